#!/usr/bin/env bash
# job_socket_security.sh BIN_DIR WORK_DIR -- crmpirun's job control socket
# ("job.<crmpirun pid>" in /tmp/crmpi-<euid>) serves its own user only
# (libcr/src/control/control.h; coordinator/src/job_control.cpp).
#
# Runs as root and creates two throwaway unprivileged users, A and B, for
# its duration; they, their processes and their socket folders are removed
# on every exit path.  A's jobs run without OMPI_ALLOW_RUN_AS_ROOT.
#   1. B cannot checkpoint A's job: cr_checkpoint says why and exits 1;
#      B's own client cannot even reach the socket (folder 0700); a client
#      with A's uid but another gid reaches it and is refused by crmpirun
#      (may_request).  No checkpoint folder appears; the job is unharmed
#      (it finishes with the output of an uninterrupted run).
#   2. A checkpoints its own job: folder 0700, files 0600, all A's.
#   3. Impostors: B cannot bind in A's folder; a "job.<pid>" socket B binds
#      in B's own folder is never contacted by A's cr_checkpoint; a same-uid
#      process holding job.<pid> of another process is refused by the pid
#      check, nothing sent; a /tmp/crmpi-<A uid> squatted by B before A's
#      job starts: crmpirun warns, and A's cr_checkpoint sends nothing to
#      the socket B put there.
# Exit: 0 pass, 1 fail, 77 skip (not root, tools missing, build binaries
# not reachable by an unprivileged user).
set -uo pipefail
BIN=$(cd "$1" && pwd) WORK=$2
[ -n "$BIN" ] || { echo "FAIL: no folder $1"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to create the test users"
for t in setpriv useradd userdel groupdel pgrep pkill timeout; do
  command -v "$t" > /dev/null || skip "no $t"
done
PY=/usr/bin/python3
[ -x "$PY" ] || skip "no $PY"
# The users' jobs must work without mpirun's root override.
unset OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM CRMPI_AGENT CRMPI_LIB
rm -rf "$WORK"; mkdir -p "$WORK"; chmod 755 "$WORK"; cd "$WORK" || exit 1
# No fd of CTest's may reach the users' programs.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# --- Two throwaway users.  Their uids' processes are killed at the end
# (pkill -u), so a uid is only taken on if nothing runs under it yet.
A=crja$$ B=crjb$$
USERS=() KILL_UIDS=() PIDS=() TMPWORK= HOMEDIR=/
cleanup() {
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do { kill -9 "$p" && wait "$p"; } 2> /dev/null; done
  for u in "${KILL_UIDS[@]}"; do
    pkill -9 -u "$u" 2> /dev/null  # by effective uid
    pkill -9 -U "$u" 2> /dev/null  # by real uid (the uid-A-gid-B client too)
  done
  wait 2> /dev/null
  for u in "${KILL_UIDS[@]}"; do
    for _ in $(seq 50); do pgrep -u "$u" > /dev/null || pgrep -U "$u" > /dev/null || break; sleep 0.1; done
    rm -rf "/tmp/crmpi-$u" /tmp/ompi.*."$u"
  done
  for n in "${USERS[@]}"; do userdel "$n" 2> /dev/null; groupdel "$n" 2> /dev/null; done
  [ -n "$TMPWORK" ] && rm -rf "$TMPWORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
new_user() {  # NAME
  useradd -M -U -s /usr/sbin/nologin "$1" || { echo "FAIL: cannot create user $1"; exit 1; }
  USERS+=("$1")
  local u; u=$(id -u "$1")
  if pgrep -u "$u" > /dev/null || pgrep -U "$u" > /dev/null; then
    echo "FAIL: processes already run as uid $u (a reused uid?); not touching them"; exit 1
  fi
  KILL_UIDS+=("$u")
  rm -rf "/tmp/crmpi-$u"  # a deleted user's leftover, if any
}
new_user "$A"; new_user "$B"
UA=$(id -u "$A") GA=$(id -g "$A") UB=$(id -u "$B") GB=$(id -g "$B")
FA=/tmp/crmpi-$UA FB=/tmp/crmpi-$UB

# as UID GID CMD...: run with those ids only, a home it may use, no root env.
as() {
  local u=$1 g=$2; shift 2
  setpriv --reuid="$u" --regid="$g" --clear-groups -- \
    env HOME="$HOMEDIR" USER=nobody LOGNAME=nobody TMPDIR=/tmp "$@"
}
as_a() { as "$UA" "$GA" "$@"; }
as_b() { as "$UB" "$GB" "$@"; }
# bg_as UID GID CMD...: the same in the background; BG is its pid (the
# command's own, not a subshell's), remembered for the cleanup.
bg_as() {
  local u=$1 g=$2; shift 2
  (exec setpriv --reuid="$u" --regid="$g" --clear-groups -- \
     env HOME="$HOMEDIR" USER=nobody LOGNAME=nobody TMPDIR=/tmp "$@") &
  BG=$!; PIDS+=("$BG")
}

# The users must reach the binaries and a working folder.
NEED=("$BIN/crmpirun" "$BIN/cr_agent" "$BIN/cr_checkpoint" "$BIN/cr_info" "$BIN/mt_ckpt_moments")
for f in "${NEED[@]}"; do
  as_a test -x "$f" || skip "$f is not executable by an unprivileged user (build tree not world-readable?)"
done
as_a test -r "$BIN/../lib/libcrpmpi.so" || skip "$BIN/../lib/libcrpmpi.so is not readable by an unprivileged user"
out=$(as_a "$BIN/cr_checkpoint" --help 2>&1)
case $? in 126 | 127) skip "cr_checkpoint does not run as an unprivileged user: $out" ;; esac
if ! as_a test -x "$WORK" || ! as_b test -x "$WORK"; then
  TMPWORK=$(mktemp -d /tmp/crmpi-jobsec.XXXXXX) && chmod 755 "$TMPWORK" && cd "$TMPWORK" || exit 1
  echo "note: $WORK is not reachable by the test users; working in $TMPWORK"
fi
W=$(pwd)
mkdir -m 700 a b && chown "$A:$A" a && chown "$B:$B" b
HOMEDIR=$W/home && mkdir -m 1777 "$HOMEDIR"  # mpirun wants a usable HOME

# wait_for FILE PATTERN [PID]: at most 60 s, less if PID dies.
wait_for() {
  for _ in $(seq 1200); do
    grep -q "$2" "$1" 2> /dev/null && return 0
    [ -n "${3:-}" ] && ! kill -0 "$3" 2> /dev/null && break
    sleep 0.05
  done
  fail "no '$2' in $1: $(tail -5 "$1" 2> /dev/null)"
  return 1
}
# wait_exit PID: its exit status, or 124 after 60 s (it is killed then).
wait_exit() {
  for _ in $(seq 1200); do kill -0 "$1" 2> /dev/null || break; sleep 0.05; done
  kill -0 "$1" 2> /dev/null && { kill -9 "$1"; wait "$1" 2> /dev/null; return 124; }
  wait "$1"
}
# start_job NAME GOPREFIX: crmpirun -np 2 mt_ckpt_moments as A in a/; sets JOB.
start_job() {
  cd a || exit 1
  bg_as "$UA" "$GA" "$BIN/crmpirun" -np 2 --oversubscribe "$BIN/mt_ckpt_moments" eager 1 "$2" \
    > "../$1.out" 2> "../$1.err"
  JOB=$BG
  cd ..
}
lines() { grep -hv '^GATE' "$@" | sort; }
# Any checkpoint folder or image anywhere in the users' folders?
no_checkpoint() {  # WHAT
  local found
  found=$(find a b -mindepth 1 \( -name '*ckpt*' -o -name '*.img' -o -name 'job.manifest.json' \
          -o -name 'ck-*' \) 2> /dev/null | grep -v "^a/ck-own" | head -5)
  [ -z "$found" ] || fail "$1: checkpoint files appeared: $found"
}

# A job-protocol client (crmpi/job_control.h, version 1) that asks for a
# checkpoint into DIR and prints what it gets.
CLIENT='
import select, socket, struct, sys
path, d = sys.argv[1], sys.argv[2].encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
try: s.connect(path)
except PermissionError: print("connect: EACCES"); sys.exit(0)
except OSError as e: print("connect: %s" % e); sys.exit(0)
# crmpirun refuses a peer as soon as it accepts it: wait for that first
# (sending now could race with its close and lose the reply to a reset).
if not select.select([s], [], [], 2)[0]:
  s.send(struct.pack("<4I", 0x514a4343, 1, 0, 10) + d + b"\0" * (1024 - len(d)))
s.settimeout(20)
while True:
  r = s.recv(40 + 256 + 1024)
  if len(r) < 40: print("closed"); break
  magic, kind, stage, epoch, nranks, paused, written, status = struct.unpack_from("<8I", r)
  if kind == 2:
    print("final status %d: %s" % (status, r[40:296].split(b"\0")[0].decode())); break
'
# A listener on PATH that logs every connection and what it is sent.
LISTEN='
import os, socket, sys
path = sys.argv[1]
if len(sys.argv) > 2: os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
os.umask(0)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
try: s.bind(path)
except PermissionError: print("bind: EACCES", flush=True); sys.exit(0)
s.listen(4); print("listening", flush=True)
while True:
  c, _ = s.accept(); print("CONNECTION", flush=True)
  msg, anc, _, _ = c.recvmsg(4096, 64)
  print("RECEIVED %d bytes, %d fds" % (len(msg), len(anc)) if msg or anc else "nothing", flush=True)
  c.close()
'

# --- Reference: the same job, uninterrupted (its gate open from the start).
touch a/refgo1 && chown "$A:$A" a/refgo1
start_job ref "$W/a/refgo"
wait_exit "$JOB"; rc=$?
if [ $rc != 0 ]; then
  fail "A's uninterrupted job exited $rc: $(tail -5 ref.err)"
  echo "$FAILS failure(s)"; exit 1
fi
grep -q "rank 1 done" ref.out || fail "reference: no 'rank 1 done': $(tail -3 ref.out)"

# --- The job under test, waiting at its gate.
start_job job "$W/a/go"
wait_for job.out "^GATE 1" "$JOB" || { echo "$(cat job.err)"; echo "$FAILS failure(s)"; exit 1; }
[ "$(cat /proc/$JOB/comm 2> /dev/null)" = crmpirun ] || fail "pid $JOB is not crmpirun"
SOCK=$FA/job.$JOB
[ -S "$SOCK" ] || fail "no job control socket $SOCK"
[ "$(stat -c '%u %a' "$FA")" = "$UA 700" ] || fail "$FA: $(stat -c '%U %a' "$FA"), not $A 700"

# --- 1. User B.
# 1a. cr_checkpoint, into B's own folder and into the default one.
(cd b && as_b timeout 60 "$BIN/cr_checkpoint" -f "$W/b/ck-b" "$JOB") > b1.out 2> b1.err
rc=$?
[ $rc = 1 ] && grep -q "permission denied: process $JOB belongs to uid $UA ($A), not to you (uid $UB ($B))" b1.err ||
  fail "B's cr_checkpoint -f: status $rc: $(cat b1.err)"
(cd b && as_b timeout 60 "$BIN/cr_checkpoint" "$JOB") > b2.out 2> b2.err
rc=$?
[ $rc = 1 ] && grep -q "permission denied" b2.err || fail "B's cr_checkpoint: status $rc: $(cat b2.err)"
# 1b. B's own client, without cr_checkpoint's courtesy check: the folder
# (0700) keeps it from the socket.
as_b "$PY" -c "$CLIENT" "$SOCK" "$W/b/ck-raw" > b3.out 2>&1
grep -q "connect: EACCES" b3.out || fail "B's own client on $SOCK: $(cat b3.out)"
# 1c. A's uid with B's gid reaches the socket: crmpirun refuses (may_request).
as "$UA" "$GB" "$PY" -c "$CLIENT" "$SOCK" "$W/a/ck-gid" > b4.out 2>&1
grep -q "final status 1: permission denied: the job belongs to another user" b4.out ||
  fail "uid $A gid $B on $SOCK: $(cat b4.out)"
sleep 0.3  # a checkpoint wrongly started would have made its folder by now
no_checkpoint "after B's attempts"
kill -0 "$JOB" 2> /dev/null || fail "the job died after B's attempts: $(tail -5 job.err)"

# --- 3a. B cannot put a socket in A's folder.
as_b "$PY" -c "$LISTEN" "$FA/job.4000000" > b5.out 2>&1
grep -q "bind: EACCES" b5.out || fail "B could bind in $FA: $(cat b5.out)"
rm -f "$FA/job.4000000"
# 3b. B's "job.<pid>" in B's own folder, listening during A's checkpoint.
bg_as "$UB" "$GB" "$PY" -c "$LISTEN" "$FB/job.$JOB" mkdir > imp-b.log 2>&1
wait_for imp-b.log listening

# --- 2. A checkpoints its own job.
(cd a && as_a timeout 90 "$BIN/cr_checkpoint" -f "$W/a/ck-own" "$JOB") > a1.out 2> a1.err
rc=$?
[ $rc = 0 ] || fail "A's checkpoint of its job: status $rc: $(cat a1.err)"
if [ -f a/ck-own/job.manifest.json ]; then
  bad=$(find a/ck-own \( ! -user "$A" -o ! -group "$A" -o \( -type d ! -perm 700 \) -o \( -type f ! -perm 600 \) \
        -o ! \( -type d -o -type f \) \) -printf '%p %u:%g %m %y\n')
  [ -z "$bad" ] || fail "A's checkpoint: not A's, 0700/0600: $bad"
  as_a "$BIN/cr_info" "$W/a/ck-own" > info.out 2>&1 || fail "cr_info rejects A's checkpoint: $(tail -3 info.out)"
else
  fail "A's checkpoint: no manifest in a/ck-own"
fi
sleep 0.2
grep -q CONNECTION imp-b.log && fail "B's socket in $FB was contacted: $(cat imp-b.log)"

# The job goes on to its end, with the uninterrupted run's output.
touch a/go1
wait_exit "$JOB"; rc=$?
[ $rc = 0 ] || fail "the job exited $rc: $(tail -5 job.err)"
[ "$(lines ref.out)" = "$(lines job.out)" ] || fail "the job's output differs from the uninterrupted run's"
[ -e "$SOCK" ] && fail "$SOCK is left behind"

# --- 3c. A same-uid impostor holding job.<pid> of another of A's processes:
# cr_checkpoint checks the listener's pid and sends nothing.
bg_as "$UA" "$GA" sleep 120; VICTIM=$BG
bg_as "$UA" "$GA" "$PY" -c "$LISTEN" "$FA/job.$VICTIM" > imp-a.log 2>&1; IMP=$BG
wait_for imp-a.log listening
(cd a && as_a timeout 60 "$BIN/cr_checkpoint" -f "$W/a/ck-imp" "$VICTIM") > a2.out 2> a2.err
rc=$?
[ $rc = 1 ] && grep -q "held by process $IMP, not by it; nothing was sent" a2.err ||
  fail "same-uid impostor: status $rc: $(cat a2.err)"
sleep 0.2
grep -q RECEIVED imp-a.log && fail "the impostor was sent the request: $(cat imp-a.log)"
no_checkpoint "same-uid impostor"
kill -9 "$IMP" "$VICTIM" 2> /dev/null; wait "$IMP" "$VICTIM" 2> /dev/null
rm -f "$FA/job.$VICTIM"

# --- 3d. B squats /tmp/crmpi-<A uid> (anyone may create names in /tmp)
# before A's job starts, and puts a socket for the job in it.
rm -rf "$FA"
as_b mkdir -m 755 "$FA" || fail "B cannot create $FA"
start_job sq "$W/a/sqgo"
wait_for sq.out "^GATE 1" "$JOB"
grep -q "crmpirun: warning: no job control socket" sq.err && grep -q "$FA" sq.err ||
  fail "squatted folder: crmpirun gave no warning: $(cat sq.err)"
bg_as "$UB" "$GB" "$PY" -c "$LISTEN" "$FA/job.$JOB" > imp-sq.log 2>&1; IMP=$BG
wait_for imp-sq.log listening
(cd a && as_a timeout 60 "$BIN/cr_checkpoint" -f "$W/a/ck-sq" "$JOB") > a3.out 2> a3.err
rc=$?
[ $rc = 1 ] && grep -q "held by process $IMP" a3.err && grep -q "nothing was sent" a3.err ||
  fail "squatted folder: A's cr_checkpoint: status $rc: $(cat a3.err)"
sleep 0.2
grep -q RECEIVED imp-sq.log && fail "B's socket in the squatted folder was sent the request: $(cat imp-sq.log)"
no_checkpoint "squatted folder"
touch a/sqgo1
wait_exit "$JOB"; rc=$?
[ $rc = 0 ] || fail "the job in a squatted folder exited $rc: $(tail -5 sq.err)"
[ "$(lines ref.out)" = "$(lines sq.out)" ] || fail "the squatted job's output differs from the uninterrupted run's"

if [ $FAILS -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo "PASS: job socket security"
