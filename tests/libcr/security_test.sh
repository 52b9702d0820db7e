#!/usr/bin/env bash
# security_test.sh -- who may checkpoint and restart what, and the control
# socket (issue 8).  Runs as root; creates an unprivileged user for its
# duration and removes it afterwards.
#   security_test.sh BIN_DIR WORK_DIR GUARDED_PROG BIGMEM_PROG
set -uo pipefail
BIN=$1 WORK=$2 PROG=$3
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root to create a test user"; exit 0; fi
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
# No fd of CTest's (its log) may reach the programs: the test user could
# not reopen it at restart.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
PY=/usr/bin/python3

# An unprivileged user of our own, with a folder it owns.
U=crsec$$
useradd -M -U -s /usr/sbin/nologin "$U" || { echo "cannot create a test user"; exit 1; }
UID_U=$(id -u "$U") GID_U=$(id -g "$U")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  pkill -9 -u "$U" 2>/dev/null  # anything of the test user's still running,
  pkill -9 -U "$U" 2>/dev/null  # by effective or by real uid (the setuid program)
  wait 2>/dev/null
  for _ in $(seq 50); do pgrep -u "$U" > /dev/null || break; sleep 0.1; done
  rm -rf "/tmp/crmpi-$UID_U"
  userdel "$U" 2>/dev/null
  groupdel "$U" 2>/dev/null
}
trap cleanup EXIT
mkdir -p u && chown "$U:$U" u && chmod 755 "$WORK"
as_user() { setpriv --reuid="$UID_U" --regid="$GID_U" --clear-groups -- "$@"; }

wait_for() {  # FILE PATTERN: at most 10 s
  for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "no '$2' in $1: $(cat "$1" 2>/dev/null)"
  return 1
}
start() {  # OUT MODE STOPFILE [ARGS...] as root: run the guarded program
  local out=$1; shift
  "$PROG" "$@" > "$out" 2>&1 &
  PIDS+=($!); APP=$!
  wait_for "$out" ready
}
start_user() {  # OUT PROG MODE STOPFILE [ARGS...] as the test user
  local out=$1; shift
  setpriv --reuid="$UID_U" --regid="$GID_U" --clear-groups -- "$@" > "$out" 2>&1 &
  PIDS+=($!); APP=$!
  wait_for "$out" ready
}

# --- 1. Squatting the old abstract name wins nothing.  The test user binds
# "@crmpi-libcr.<pid>" for the next 400 pids and logs every connection; root
# then starts a libcr program and checkpoints it.
NEXT=$(cat /proc/sys/kernel/ns_last_pid)
setpriv --reuid="$UID_U" --regid="$GID_U" --clear-groups -- $PY -c '
import socket, sys, select
first = int(sys.argv[1]); socks = []
for p in range(first + 1, first + 400):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try: s.bind("\0crmpi-libcr.%d" % p); s.listen(4); socks.append(s)
    except OSError: s.close()
print("squatting", len(socks), flush=True)
while True:
    r, _, _ = select.select(socks, [], [])
    for s in r:
        c, _ = s.accept(); print("GOT A CONNECTION", flush=True)
' "$NEXT" > squat.log 2>&1 &
SQUAT=$!; PIDS+=($SQUAT)
wait_for squat.log squatting
start root.out plain "$WORK/stop-root"
ROOT_APP=$APP
"$BIN/cr_checkpoint" -q -f "$WORK/root.img" "$ROOT_APP" 2> ck1.err || fail "root's checkpoint failed: $(cat ck1.err)"
"$BIN/cr_info" "$WORK/root.img" > /dev/null || fail "root's image is not valid"
grep -q "GOT A CONNECTION" squat.log && fail "the squatter was contacted"
kill -9 $SQUAT

# --- 2. An impostor on the real socket path (same uid, another process) is
# never sent anything: cr_checkpoint checks the listener's pid.
sleep 60 & VICTIM=$!; PIDS+=($VICTIM)
mkdir -p -m 700 /run/crmpi
$PY -c '
import socket, sys, os
path = "/run/crmpi/libcr.%s" % sys.argv[1]
try: os.unlink(path)  # a dead process of the same pid may have left its socket file
except FileNotFoundError: pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.bind(path); s.listen(4)
print("listening", flush=True)
c, _ = s.accept()
msg, anc, _, _ = c.recvmsg(64, 64)
print("RECEIVED %d bytes, %d fds" % (len(msg), len(anc)) if msg or anc else "nothing", flush=True)
' "$VICTIM" > impostor.log 2>&1 &
IMP=$!; PIDS+=($IMP)
wait_for impostor.log listening
"$BIN/cr_checkpoint" -f "$WORK/imp.img" "$VICTIM" 2> imp.err
rc=$?
[ $rc = 1 ] && grep -q "held by process $IMP" imp.err || fail "impostor: status $rc: $(cat imp.err)"
sleep 0.2
grep -q RECEIVED impostor.log && fail "the impostor received the request: $(cat impostor.log)"
[ -e imp.img ] && fail "impostor: an image was created"
rm -f "/run/crmpi/libcr.$VICTIM"; kill -9 $IMP $VICTIM 2>/dev/null

# --- 3. The test user cannot put a socket in root's folder.
setpriv --reuid="$UID_U" --regid="$GID_U" --clear-groups -- $PY -c '
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
try: s.bind("/run/crmpi/libcr.4000000"); print("BOUND")
except PermissionError: print("refused")
' > bind.log 2>&1
grep -q refused bind.log || fail "the user could bind in /run/crmpi: $(cat bind.log)"

# --- 4. Another user's process: permission denied, naming the owner; no image.
as_user "$BIN/cr_checkpoint" -f "$WORK/u/other.img" "$ROOT_APP" 2> other.err
rc=$?
[ $rc = 1 ] && grep -q "permission denied" other.err && grep -q "uid 0 (root)" other.err ||
  fail "another user's process: status $rc: $(cat other.err)"
[ -e u/other.img ] && fail "another user's process: an image was created"

# --- 5. A setuid-root program holding a root-only secret: refused to its
# user; root may.
cp "$PROG" suid && chown root:root suid && chmod 4755 suid
echo "TOPSECRET-$$" > secret && chmod 600 secret
start_user suid.out "$WORK/suid" secret "$WORK/u/stop-suid" "$WORK/secret"
SUID_APP=$APP
if awk '/^Uid:/ {exit !($3 == 0)}' /proc/$SUID_APP/status; then
  as_user "$BIN/cr_checkpoint" -f "$WORK/u/suid.img" "$SUID_APP" 2> suid.err
  rc=$?
  [ $rc = 1 ] && grep -q "permission denied" suid.err && grep -q "changed ids" suid.err ||
    fail "setuid program: status $rc: $(cat suid.err)"
  grep -rqs "TOPSECRET-$$" u/ && fail "the secret reached the user's folder"
  "$BIN/cr_checkpoint" -q -f "$WORK/suid-root.img" "$SUID_APP" 2> suid-root.err ||
    fail "root may checkpoint a setuid program: $(cat suid-root.err)"
else
  echo "note: setuid does not take effect here (nosuid mount?): setuid case not run"
fi
kill -9 $SUID_APP

# --- 6. A process that made itself not dumpable: refused to its own user
# (by the process itself), allowed to root.
start_user und.out "$PROG" undumpable "$WORK/u/stop-und"
UND_APP=$APP
as_user "$BIN/cr_checkpoint" -f "$WORK/u/und.img" "$UND_APP" 2> und.err
rc=$?
[ $rc = 1 ] && grep -q "permission denied" und.err && grep -q "not dumpable" und.err ||
  fail "not dumpable: status $rc: $(cat und.err)"
[ -e u/und.img ] && fail "not dumpable: an image was created"
"$BIN/cr_checkpoint" -q -f "$WORK/und-root.img" "$UND_APP" 2> und-root.err ||
  fail "root may checkpoint a non-dumpable process: $(cat und-root.err)"
kill -9 $UND_APP

# --- 7. A socket folder squatted by someone else: the process says so
# loudly, and cr_checkpoint names the cause.
rm -rf "/tmp/crmpi-$UID_U"; mkdir -m 700 "/tmp/crmpi-$UID_U"  # owned by root
start_user sq.out "$PROG" plain "$WORK/u/stop-sq"
SQ_APP=$APP
grep -q "checkpoints are DISABLED" sq.out && grep -q "owned by another user" sq.out ||
  fail "squatted folder: no loud warning: $(cat sq.out)"
as_user "$BIN/cr_checkpoint" -f "$WORK/u/sq.img" "$SQ_APP" 2> sq.err
rc=$?
[ $rc = 1 ] && grep -q "/tmp/crmpi-$UID_U is owned by another user" sq.err ||
  fail "squatted folder: status $rc: $(cat sq.err)"
kill -9 $SQ_APP; rm -rf "/tmp/crmpi-$UID_U"

# --- 8. Who may restart what.  The user's own image restarts for the user;
# root refuses it without --foreign-image (recorded uid and file owner),
# and runs it with the option.
start_user mine.out "$PROG" plain "$WORK/u/stop-mine"
as_user "$BIN/cr_checkpoint" -q --kill -f "$WORK/u/mine.img" "$APP" 2> mine.err ||
  fail "the user's checkpoint of its own process failed: $(cat mine.err)"
"$BIN/cr_restart" u/mine.img > rr.out 2> rr.err
rc=$?
[ $rc = 1 ] && grep -q "recorded for uid $UID_U" rr.err && grep -q "owned by uid $UID_U" rr.err &&
  grep -q -- "--foreign-image" rr.err || fail "root restarting the user's image: status $rc: $(cat rr.err)"
touch u/stop-mine
timeout 60 "$BIN/cr_restart" --foreign-image u/mine.img > rf.out 2> rf.err ||
  fail "--foreign-image restart failed: $(cat rf.err)"
grep -q "verdict ok" rf.out || fail "--foreign-image restart: no verdict: $(cat rf.out)"
rm -f u/stop-mine
setpriv --reuid="$UID_U" --regid="$GID_U" --clear-groups -- timeout 60 "$BIN/cr_restart" u/mine.img > ru.out 2> ru.err &
RU=$!; PIDS+=($RU)
wait_for ru.out alive
touch u/stop-mine
wait $RU || fail "the user's own restart failed: $(cat ru.err)"
grep -q "verdict ok" ru.out || fail "the user's own restart: no verdict: $(cat ru.out)"
# ... and an image recorded for root, in a file the user owns, is refused.
cp root.img u/root-copy.img && chown "$U:$U" u/root-copy.img
as_user "$BIN/cr_restart" u/root-copy.img > /dev/null 2> rc.err
rc=$?
[ $rc = 1 ] && grep -q "recorded for uid 0 (root)" rc.err || fail "user restarting root's image: status $rc: $(cat rc.err)"

touch "$WORK/stop-root"
if [ $FAILS -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo "PASS: security"
