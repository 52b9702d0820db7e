#!/bin/bash
# ckpt_multihost.sh BIN MPIRUN NP PROG [ARGS...]
# Job checkpoint and restart "possibly elsewhere" (--host), on one machine:
# a second host is simulated.  mpirun's rsh launcher is given a fake agent
# (--mca plm_rsh_agent $T/fake_rsh); asked to start a daemon on $SIM (an
# address Open MPI does not take for this host, default 127.0.0.2), it runs
# that orted here, in a new UTS namespace whose host name is $SIM_NAME.  Open
# MPI then treats the ranks there as another node (its own daemon, no shared
# memory with this host's ranks: TCP between the two), and their agents
# record $SIM_NAME as their host in the manifest.  Same file system, same
# network namespace (the coordinator and the TCP BTL reach across), same PID
# namespace (so that this script can clean up).
#   reference  plain mpirun, all ranks here; and plain mpirun split over both
#              hosts (must print the same)
#   split      ranks 0..NP/2-1 here, the rest on the simulated host:
#              checkpoints at calls 3, 12 and 40 (continue); output equals
#              plain mpirun's; the manifest puts each rank on its host
#   move       a checkpoint at call 5 that ends the job, restarted
#              elsewhere (crmpirun --restart DIR --host ...): two hosts ->
#              all on the simulated host; all here -> all on the simulated
#              host; all there -> all here; output equals plain mpirun's
#   chain      mt_ckpt_moments (rendezvous sends in flight at each gate),
#              cr_checkpoint --kill at 4 gates: two hosts -> simulated host
#              -> this host -> simulated host -> two hosts (cr_restart);
#              each manifest shows where the ranks ran; output equals
#              plain mpirun's
# Prints "PASS: multihost"; "FAILED: why" (exit 1); "SKIP: why" (exit 77)
# where the machine cannot simulate a host (no unshare, no CAP_SYS_ADMIN,
# Open MPI would not launch through the fake agent).
# Every process this script starts carries MH_TAG=$T in its environment;
# on exit, whatever still carries it is killed (and nothing else).
set -u
[ $# -ge 4 ] || { echo "usage: $0 BIN MPIRUN NP PROG [ARGS...]"; exit 2; }
bin=$(cd "$1" && pwd) mpirun=$2 np=$3
shift 3
# The program by absolute path: the script works in its own folder.
[[ $1 == */* ]] && set -- "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")" "${@:2}"
SIM=${CRMPI_SIM_HOST:-127.0.0.2}
SIM_NAME=${CRMPI_SIM_NAME:-crmpi-simhost}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d /tmp/crmpi-ckmh.XXXXXX)

# Kill what still carries our tag (a daemon left behind by a killed mpirun,
# its ranks), then remove the folder.
cleanup() {
  local pid
  for _ in 1 2; do
    for pid in $(grep -lz "^MH_TAG=$T\$" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
      [ "$pid" != $$ ] && kill -KILL "$pid" 2>/dev/null
    done
    sleep 0.2
  done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

fail() {
  echo "FAILED: $*"
  for f in "$T"/*.out "$T"/*.err; do [ -s "$f" ] && { echo "== $f"; tail -15 "$f"; }; done
  exit 1
}
skip() { echo "SKIP: $*"; exit 77; }
# tagged CMD...: CMD with the tag, bounded in time
tagged() { env MH_TAG="$T" timeout -k 5 120 "$@"; }
lines() { grep -hv '^\[.*\]<stderr>' "$@" | sed 's/^\[[0-9]*,\([0-9]*\)\]<stdout>:/[\1]/' | sort; }
# hosts MANIFEST: each rank's host, in rank order, space-separated
hosts() { grep -o '"host": *"[^"]*"' "$1" | sed 's/.*"\([^"]*\)"$/\1/' | tr '\n' ' ' | sed 's/ $//'; }
# repeat N WORD
repeat() { local i out=""; for ((i = 0; i < $1; i++)); do out+="${out:+ }$2"; done; echo "$out"; }

# ------------------------------------------------------------ can we?
command -v unshare >/dev/null || skip "no unshare(1)"
unshare --uts true 2>/dev/null || skip "unshare --uts is not permitted here (needs CAP_SYS_ADMIN)"
here=$(hostname)
[ "$here" != "$SIM_NAME" ] || skip "this host is already called $SIM_NAME"
[ "$np" -ge 2 ] || fail "NP must be at least 2"
n_here=$(((np + 1) / 2)) n_sim=$((np / 2))

# The fake remote shell: "fake_rsh HOST COMMAND..." as rsh/ssh would, but
# here, in a new UTS namespace.  exec all the way: the orted has the pid
# that mpirun started.
cat >"$T/fake_rsh" <<EOF
#!/bin/sh
echo "\$\$ \$*" >>"$T/rsh.log"
[ "\$1" = "$SIM" ] || { echo "fake_rsh: unknown host \$1" >&2; exit 255; }
shift
exec unshare --uts sh -c 'hostname "\$0" && exec sh -c "\$*"' "$SIM_NAME" "\$@"
EOF
chmod 755 "$T/fake_rsh"
agent=(--mca plm_rsh_agent "$T/fake_rsh")
split=(--host "localhost:$n_here,$SIM:$n_sim")
cd "$T" || exit 1

# Does Open MPI launch through it, and see two nodes?
tagged "$mpirun" -np 2 --oversubscribe --host "localhost:1,$SIM:1" "${agent[@]}" hostname >probe.out 2>probe.err ||
  skip "plain mpirun cannot start a daemon on the simulated host $SIM: $(head -3 probe.err | tr '\n' ' ')"
[ "$(sort probe.out | tr '\n' ' ')" = "$(printf '%s\n' "$here" "$SIM_NAME" | sort | tr '\n' ' ')" ] ||
  skip "plain mpirun did not put one rank on each host: $(tr '\n' ' ' <probe.out)"
grep -q . rsh.log || skip "mpirun took $SIM for this host (the fake agent was never called)"

# ------------------------------------------------------------ reference
tagged "$mpirun" -np "$np" --oversubscribe --tag-output "$@" >native.out 2>native.err ||
  fail "plain mpirun exited $?"
[ -s native.out ] || fail "no output from plain mpirun"
tagged "$mpirun" -np "$np" --oversubscribe --tag-output "${split[@]}" "${agent[@]}" "$@" \
  >native_split.out 2>native_split.err || fail "plain mpirun over both hosts exited $?"
[ "$(lines native.out)" = "$(lines native_split.out)" ] ||
  fail "plain mpirun prints differently over two hosts (the program depends on placement)"
echo "reference: plain mpirun, one host and two hosts: same output"

want_split="$(repeat "$n_here" "$here") $(repeat "$n_sim" "$SIM_NAME")"
want_sim=$(repeat "$np" "$SIM_NAME")
want_here=$(repeat "$np" "$here")
# check_hosts DIR WANT WHAT: the manifest in DIR puts the ranks at WANT
check_hosts() {
  [ -f "$1/job.manifest.json" ] || fail "$3: no committed checkpoint $1"
  "$bin/cr_info" "$1" >"$1.info" 2>&1 || fail "$3: cr_info rejects $1: $(tail -2 "$1.info")"
  local got
  got=$(hosts "$1/job.manifest.json")
  [ "$got" = "$2" ] || fail "$3: ranks ran on [$got], expected [$2]"
}

# ------------------------------------------------------------ split
mkdir c && cd c || exit 1
CRMPI_TEST_CKPT_CALLS=3,12,40 tagged "$bin/crmpirun" -np "$np" --oversubscribe --tag-output \
  "${split[@]}" "${agent[@]}" "$@" >../split.out 2>../split.err || fail "crmpirun over two hosts exited $?"
cd ..
[ "$(lines native.out)" = "$(lines split.out)" ] || fail "output over two hosts with checkpoints differs"
n=$(grep -c "committed:" split.err)
[ "$n" -ge 1 ] || fail "no checkpoint committed over two hosts"
for d in c/*.ckpt.*; do check_hosts "$d" "$want_split" "split"; done
echo "split: $n checkpoint(s) of a job on two hosts ($want_split) committed, output identical"

# ------------------------------------------------------------ move (any program)
# A checkpoint at call 5 that ends the job, restarted elsewhere: output
# before + after equals plain mpirun's.  Where the job started is in the
# manifest; where the restart ran: mpirun called the fake agent exactly
# once (all ranks on the simulated host: a daemon there) or not at all.
launches() { wc -l <"$T/rsh.log"; }
# move NAME FROM-OPTIONS... -- TO-OPTIONS...
move() {
  local name=$1 from=() to=() want
  shift
  while [ "$1" != -- ]; do from+=("$1"); shift; done
  shift
  to=("$@")
  case "${from[*]}" in
    *"localhost:$np"*) want=$want_here ;;
    *"$SIM:$np"*) want=$want_sim ;;
    *) want=$want_split ;;
  esac
  mkdir "$T/$name" && cd "$T/$name" || exit 1
  CRMPI_TEST_CKPT_CALLS=5 CRMPI_TEST_CKPT_AFTER=kill tagged "$bin/crmpirun" -np "$np" --oversubscribe \
    --tag-output "${from[@]}" "${agent[@]}" "${prog[@]}" >"../$name.1.out" 2>"../$name.1.err"
  local ck
  ck=$(ls -d ./*.ckpt.1 2>/dev/null)
  [ -n "$ck" ] || fail "$name: no checkpoint at call 5"
  check_hosts "$ck" "$want" "$name: checkpoint at call 5"
  local before
  before=$(launches)
  tagged "$bin/crmpirun" --restart "$ck" "${to[@]}" >"../$name.2.out" 2>"../$name.2.err" ||
    fail "$name: the restart (${to[*]}) exited $?"
  local n=$(($(launches) - before))
  case "${to[*]}" in
    *"localhost:$np"*) [ "$n" = 0 ] || fail "$name: the restart on this host started $n remote daemon(s)" ;;
    *) [ "$n" = 1 ] || fail "$name: the restart started $n daemon(s) on the simulated host, not 1" ;;
  esac
  cd "$T" || exit 1
  [ "$(lines native.out)" = "$(lines "$name.1.out" "$name.2.out")" ] ||
    fail "$name: output across the kill and the restart (${to[*]}) differs"
  echo "$name: checkpointed at call 5 on [$want], restarted with ${to[*]}: output identical"
}
prog=("$@")
move two_to_sim "${split[@]}" -- --host "$SIM:$np"
move here_to_sim --host "localhost:$np" -- --host "$SIM:$np"
move sim_to_here --host "$SIM:$np" -- --host "localhost:$np"

# ------------------------------------------------------------ chain (mt_ckpt_moments)
# Moved four times, each time at a gate of mt_ckpt_moments with rendezvous
# sends in flight (between the hosts when split): started on two hosts,
# cr_checkpoint --kill, restarted on the simulated host, then here, then on
# the simulated host, then on two hosts (cr_restart) to the end.  Each
# manifest shows where its ranks ran; the outputs together equal plain
# mpirun's.
gates=4
mom=("$bin/mt_ckpt_moments" rndv "$gates" "$T/go")
for g in $(seq "$gates"); do touch "$T/go$g"; done
tagged "$mpirun" -np "$np" --oversubscribe "${mom[@]}" >mref.out 2>mref.err || fail "chain: plain mpirun exited $?"
rm -f "$T"/go*
# wait_for FILE PATTERN: until FILE has a line matching PATTERN (60 s at most)
wait_for() {
  for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "chain: no '$2' in $1 after 60 s"
}
# start N CMD...: part N of the job in the background; $job: crmpirun's
# pid, $t: that of the timeout above it
start() {
  local n=$1
  shift
  env MH_TAG="$T" timeout -k 5 120 "$@" >"$T/m$n.out" 2>"$T/m$n.err" &
  t=$!
  job=""
  for _ in $(seq 200); do
    job=$(cat "/proc/$t/task/$t/children" 2>/dev/null | awk '{print $1}')
    [ -n "$job" ] && return 0
    sleep 0.05
  done
  fail "chain: part $n did not start"
}
gate_hosts=("$want_split" "$want_sim" "$want_here" "$want_sim")
next_opts=("--host $SIM:$np" "--host localhost:$np" "--host $SIM:$np")
mkdir m && cd m || exit 1
start 1 "$bin/crmpirun" -np "$np" --oversubscribe "${split[@]}" "${agent[@]}" "${mom[@]}"
for g in $(seq "$gates"); do
  wait_for "$T/m$g.out" "^GATE $g"
  "$bin/cr_checkpoint" --timeout 90 --kill -f "$T/m/ck$g" "$job" >"$T/ck$g.log" 2>&1 ||
    fail "chain: cr_checkpoint at gate $g exited $? ($(cat "$T/ck$g.log"))"
  touch "$T/go$g"
  check_hosts "$T/m/ck$g" "${gate_hosts[$((g - 1))]}" "chain: checkpoint at gate $g"
  { wait "$t"; } 2>/dev/null  # killed by the checkpoint (SIGKILL)
  if [ "$g" -lt "$gates" ]; then
    # shellcheck disable=SC2086
    start $((g + 1)) "$bin/crmpirun" --restart "$T/m/ck$g" ${next_opts[$((g - 1))]}
  else
    start $((g + 1)) "$bin/cr_restart" "${split[@]}" "$T/m/ck$g"
  fi
done
wait "$t" || fail "chain: the last part (cr_restart over two hosts) exited $?"
cd "$T" || exit 1
mlines() { grep -hv '^GATE' "$@" | sort; }
[ "$(mlines mref.out)" = "$(mlines m[0-9]*.out)" ] || fail "chain: output across four moves differs"
echo "chain: two hosts -> simulated host -> this host -> simulated host -> two hosts at gates, output identical"
echo "PASS: multihost"
