#!/usr/bin/env bash
# stress_test.sh -- many checkpoints of one busy multi-threaded process on a
# loaded machine; every image must pass cr_info, and the process, killed
# and restarted several times on the way, must pass its own final check.
#
#   stress_test.sh BIN_DIR WORK_DIR PROG [CHECKPOINTS] [THREADS] [KILL_EVERY] [SHIM]
#
# PROG is tests/libcr/progs/stress.cpp: it runs until the file "stop"
# exists in its folder, then checks its stacks and heap and prints
# "verdict: PASS|FAIL".  While it runs, one busy loop per core competes
# with it and with libcr's manager, so threads get preempted at any
# instruction, including in the middle of stopping for a checkpoint.
# Checkpoints alternate with continue; every KILL_EVERY-th one (and the
# last) is taken with --kill and the image is restarted, and the restarted
# process is checkpointed in turn.  Nothing here waits for a time: each
# step waits for a condition (the process printed "ready", its control
# socket exists, it exited).
# SHIM (progs/delay_shim.c) is preloaded into the program to widen the
# windows in which preemption hurts a capture that depends on timing.
set -uo pipefail
BIN=$1 WORK=$2 PROG=$3 N=${4:-36} THREADS=${5:-24} KILL_EVERY=${6:-12} SHIM=${7:-}
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK" || exit 1
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done

BUSY=() APP=""
cleanup() {
  for p in "${BUSY[@]}"; do kill "$p" 2>/dev/null; done
  [ -n "$APP" ] && kill -9 "$APP" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
die() {
  echo "FAIL: $*" >&2
  for f in *.out *.err; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }; done
  exit 1
}
until_true() {  # SECONDS COMMAND...: poll COMMAND every 20 ms while APP lives
  local deadline=$((SECONDS + $1)); shift
  while [ $SECONDS -lt $deadline ]; do
    "$@" && return 0
    kill -0 "$APP" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}
gone() {  # APP has exited (a zombie until we wait for it)
  local st; st=$(sed 's/.*) //' "/proc/$APP/stat" 2>/dev/null | cut -c1)
  [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}
# libcr listens on /tmp/crmpi-<uid>/libcr.<pid> (/run/crmpi/ for root).
has_socket() { grep -q "/libcr\.$APP\$" /proc/net/unix; }

for _ in $(seq "$(nproc)"); do
  (while :; do :; done) &
  BUSY+=($!)
done

LD_PRELOAD=$SHIM "$BIN/cr_run" "$PROG" "$THREADS" stop > run0.out 2> run0.err &
APP=$!
until_true 30 grep -q "^ready" run0.out || die "the program did not start"
until_true 30 has_socket || die "no control socket for $APP"

restarts=0 corrupt=0
for i in $(seq "$N"); do
  kill_it=""
  if [ $((i % KILL_EVERY)) = 0 ] || [ "$i" = "$N" ]; then kill_it=--kill; fi
  if ! "$BIN/cr_checkpoint" -q $kill_it -f img "$APP" 2> ckpt.err; then
    die "checkpoint $i of $APP failed: $(cat ckpt.err)"
  fi
  if ! "$BIN/cr_info" img > info.out 2>&1; then
    corrupt=$((corrupt + 1))
    cp img "bad$i.img"
    echo "checkpoint $i: cr_checkpoint said yes, cr_info says: $(tail -1 info.out)" >&2
    [ -n "$kill_it" ] && die "$corrupt corrupt image(s); the process is gone"
    continue
  fi
  [ -z "$kill_it" ] && continue
  deadline=$((SECONDS + 30))
  until gone || [ $SECONDS -ge $deadline ]; do sleep 0.02; done
  gone || die "process $APP still runs after checkpoint --kill"
  wait "$APP"; rc=$?
  [ $rc = 137 ] || die "process not killed by checkpoint --kill (status $rc)"
  restarts=$((restarts + 1))
  "$BIN/cr_restart" -q img > "run$restarts.out" 2> "run$restarts.err" &
  APP=$!
  until_true 30 has_socket || die "restart $restarts: no control socket (status $(wait $APP; echo $?))"
done
[ $corrupt = 0 ] || die "$corrupt of $N images corrupt although cr_checkpoint succeeded"

# Let the last restarted process check itself.
touch stop
wait "$APP"; rc=$?
APP=""
out=run$restarts.out
grep -q "^verdict: PASS" "$out" || die "restarted process: $(grep verdict "$out" || echo "no verdict, status $rc")"
[ $rc = 0 ] || die "restarted process exited with status $rc"
echo "PASS: $N checkpoints ($restarts restarts) of $((THREADS + 1)) threads under load: $(grep verdict "$out")"
