#!/usr/bin/env bash
# commit_test.sh -- signals and SIGKILL sent to cr_checkpoint at any moment
# never lose a committed image, never leave a stray file, and never kill the
# process for an image nobody keeps (issue 8, finding 4).
#   commit_test.sh BIN_DIR WORK_DIR BIGMEM_PROG
# For each delay and signal: start a 256 MiB program, run
# `cr_checkpoint --kill`, send the signal to cr_checkpoint after the delay.
# Invariant, whatever the timing: never a temporary file left, and either
#   an image     -> valid; after a catchable signal also exit 0 and the
#                   process dead (the commit cannot be undone)
#   no image     -> non-zero exit, and the process runs on, checkpointable
set -uo pipefail
BIN=$1 WORK=$2 BIGMEM=$3
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
FAILS=0 COMMITTED=0 ABANDONED=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

running() {  # PID OUT: the program makes progress (a new step within 20 s)
  local n; n=$(grep -c ^step "$2")
  for _ in $(seq 400); do
    [ "$(grep -c ^step "$2")" -gt "$n" ] && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# How long one checkpoint takes here, now: the delays below spread around
# it, so that signals land while writing, at the commit, and after it.
"$BIN/cr_run" "$BIGMEM" 256 100000 > app.out 2>&1 &
APP=$!
for _ in $(seq 400); do grep -q "^step 1" app.out 2>/dev/null && break; sleep 0.05; done
T0=$(date +%s%N)
"$BIN/cr_checkpoint" -q --kill -f img $APP || fail "a plain checkpoint failed"
T=$(( ($(date +%s%N) - T0) / 1000000 ))
wait $APP 2>/dev/null
echo "one checkpoint: $T ms"
DELAYS=$(for pct in 10 50 80 90 95 100 105 110 130; do printf '%d.%03d ' $((T * pct / 100000)) $((T * pct / 100 % 1000)); done)

for sig in INT TERM HUP KILL; do
  for delay in $DELAYS; do
    "$BIN/cr_run" "$BIGMEM" 256 100000 > app.out 2>&1 &
    APP=$!
    for _ in $(seq 400); do grep -q "^step 1" app.out 2>/dev/null && break; sleep 0.05; done
    rm -f img
    "$BIN/cr_checkpoint" -q --kill -f img $APP 2> ck.err &
    CK=$!
    sleep "$delay"
    kill -$sig $CK 2>/dev/null
    wait $CK
    rc=$?
    ls ./*.tmp.* > /dev/null 2>&1 && fail "$sig after $delay s: a temporary file was left: $(ls)"
    if [ -e img ]; then
      # Committed: the image is whole.  A catchable signal can no longer
      # change anything (exit 0, process killed); SIGKILL may only have cut
      # cr_checkpoint short of telling the process, which then runs on.
      COMMITTED=$((COMMITTED + 1))
      "$BIN/cr_info" img > /dev/null 2>&1 || fail "$sig after $delay s: the committed image is not valid"
      if [ $sig != KILL ]; then
        [ $rc = 0 ] || fail "$sig after $delay s: image committed but exit status $rc"
        wait $APP 2>/dev/null
        kill -0 $APP 2>/dev/null && fail "$sig after $delay s: exit 0 but the process lives"
      fi
    else
      ABANDONED=$((ABANDONED + 1))
      [ $rc != 0 ] || fail "$sig after $delay s: exit 0 without an image"
      running $APP app.out || fail "$sig after $delay s: no image, and the process does not run on"
      # ... and it can still be checkpointed.
      "$BIN/cr_checkpoint" -q --kill -f again $APP 2> again.err || fail "$sig after $delay s: no checkpoint afterwards: $(cat again.err)"
      wait $APP 2>/dev/null
    fi
    kill -9 $APP 2>/dev/null; wait $APP 2>/dev/null
  done
done
echo "committed $COMMITTED, abandoned $ABANDONED"
if [ $FAILS -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo "PASS: commit"
