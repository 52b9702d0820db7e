#!/usr/bin/env bash
# tools_test.sh -- cr_checkpoint's after-checkpoint actions (--stop,
# --term), --timeout, and the tools' --help.
#   tools_test.sh BIN_DIR WORK_DIR HEAP_PROG BLOCKER_PROG STATIC_PROG BIGMEM_PROG
set -uo pipefail
BIN=$1 WORK=$2 PROG=$3 BLOCKER=$4 STATIC=$5 BIGMEM=$6
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# The programs run until their stop file exists, created only when the
# script ends (a restarted copy, not a child of this shell, ends then too),
# so none can end before the test is done with it; every wait for
# something to happen is a bounded loop on that condition.
STOPF=$WORK/stop
trap 'touch "$STOPF" "$WORK/rel.stop"' EXIT
wait_line() {  # FILE PATTERN PID: until FILE matches (60 s), or PID is gone
  for _ in $(seq 1200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
state_of() { awk '{print $3}' /proc/$1/stat 2>/dev/null || echo gone; }
alive() { local s; s=$(state_of $1); [ "$s" != gone ] && [ "$s" != Z ]; }
start() {  # OUT: start the heap program under cr_run, wait for step 1
  "$BIN/cr_run" "$PROG" 0 50 "$STOPF" > "$1" 2>&1 &
  APP=$!
  wait_line "$1" "step 1" $APP || fail "program did not start"
}

# --stop: stopped right after the checkpoint, and goes on after SIGCONT.
start stop.out
"$BIN/cr_checkpoint" -q --stop -f stop.img $APP || fail "--stop checkpoint failed"
for _ in $(seq 200); do [ "$(state_of $APP)" = T ] && break; sleep 0.05; done
state=$(state_of $APP)
[ "$state" = T ] || fail "--stop: process state is $state, not T (10 s after the checkpoint)"
n1=$(wc -l < stop.out); sleep 0.3; n2=$(wc -l < stop.out)
[ "$n1" = "$n2" ] || fail "--stop: the process kept running"
kill -CONT $APP
for _ in $(seq 1200); do [ "$(wc -l < stop.out)" -gt "$n2" ] && break; sleep 0.05; done
n3=$(wc -l < stop.out)
[ "$n3" -gt "$n2" ] || fail "--stop: no progress within 60 s of SIGCONT"
kill -9 $APP; wait $APP 2>/dev/null
"$BIN/cr_info" stop.img > /dev/null || fail "--stop image is not valid"

# Temporary images of a cr_checkpoint that was killed (named
# FILE.tmp.<pid>.XXXXXX) are removed by the next checkpoint to FILE when
# their writer is gone; those of a live writer, and other files, stay.
true & DEAD=$!; wait $DEAD
touch "st.img.tmp.$DEAD.abcdef" "st.img.tmp.1.abcdef" st.img.tmp.notapid
start st.out
"$BIN/cr_checkpoint" -q -f st.img $APP || fail "checkpoint beside stale temporaries failed"
[ -e "st.img.tmp.$DEAD.abcdef" ] && fail "a dead writer's temporary image was not removed"
[ -e st.img.tmp.1.abcdef ] && [ -e st.img.tmp.notapid ] || fail "a live writer's or another file was removed"
kill -9 $APP; wait $APP 2>/dev/null

# A reader that goes away never kills a tool (issue 7): cr_info's output into
# a pipe whose read end is already closed, so every write fails; it must
# exit with the image's status (0), quietly, not die of SIGPIPE (141).
closed_pipe() {  # CMD...: run CMD with stdout a pipe that has no reader
  /usr/bin/python3 -c '
import os, subprocess, sys
r, w = os.pipe(); os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)
sys.stderr.write(p.stderr.decode()); sys.exit(128 - p.returncode if p.returncode < 0 else p.returncode)' "$@"
}
closed_pipe "$BIN/cr_info" stop.img 2> pipe.err
rc=$?
[ $rc = 0 ] || fail "cr_info into a closed pipe: status $rc, not 0"
[ -s pipe.err ] && fail "cr_info into a closed pipe said: $(cat pipe.err)"
closed_pipe "$BIN/cr_checkpoint" --help 2> pipe.err || fail "cr_checkpoint --help into a closed pipe: status $?"
(set -o pipefail; "$BIN/cr_info" stop.img | head -1 > /dev/null) || fail "cr_info | head under pipefail: status $?"

# --term: SIGTERM after a complete checkpoint; the image restarts.
start term.out
"$BIN/cr_checkpoint" -q --term -f term.img $APP || fail "--term checkpoint failed"
wait $APP; rc=$?
[ $rc = 143 ] || fail "--term: exit status $rc, not 143 (SIGTERM)"
timeout 60 "$BIN/cr_restart" -q term.img > term-rst.out 2>&1 &
R=$!
wait_line term-rst.out "^step" $R || fail "--term image does not restart"
kill -9 $(pgrep -P $R) $R 2>/dev/null; wait $R 2>/dev/null

# --timeout: a process that cannot stop in time fails cleanly.
"$BIN/cr_run" "$BLOCKER" "$STOPF" > to.out 2>&1 &
APP=$!
wait_line to.out "step 1" $APP || fail "blocker did not start"
T0=$(date +%s)
timeout 30 "$BIN/cr_checkpoint" --timeout 1 -f to.img $APP 2> to.err
rc=$?
T1=$(date +%s)
[ $rc = 1 ] || fail "--timeout: status $rc, not 1"
[ $((T1 - T0)) -le 5 ] || fail "--timeout 1 took $((T1 - T0)) s"
grep -qE "did not finish its checkpoint within 1 s|try again" to.err || fail "--timeout message: $(cat to.err)"
[ ! -e to.img ] || fail "--timeout left an image"
ls to.img.tmp.* > /dev/null 2>&1 && fail "--timeout left a temporary file"
n1=$(wc -l < to.out)
for _ in $(seq 1200); do [ "$(wc -l < to.out)" -gt "$n1" ] && break; sleep 0.05; done
[ "$(wc -l < to.out)" -gt "$n1" ] || fail "--timeout: the process stopped making progress (60 s)"
kill -9 $APP; wait $APP 2>/dev/null

start to2.out
kill -STOP $APP
for _ in $(seq 200); do [ "$(awk '{print $3}' /proc/$APP/stat)" = T ] && break; sleep 0.05; done
# Without --timeout a stopped process is refused at once, never waited for.
timeout 10 "$BIN/cr_checkpoint" -f to2.img $APP 2> to2.err
rc=$?
[ $rc = 1 ] && grep -q "is stopped" to2.err || fail "stopped process: status $rc: $(cat to2.err)"
kill -CONT $APP
# Refused, the process is untouched: it goes on once continued.
n1=$(wc -l < to2.out)
for _ in $(seq 1200); do [ "$(wc -l < to2.out)" -gt "$n1" ] && break; alive $APP || break; sleep 0.05; done
[ "$(wc -l < to2.out)" -gt "$n1" ] || fail "stopped process: no progress after SIGCONT (it died or hangs)"
kill -9 $APP; wait $APP 2>/dev/null

# --kill with a --timeout that expires: the image is discarded, so the
# process must not be killed (and when it does finish in time, the image
# must be there).  512 MiB make the checkpoint slower than 1 s here.
"$BIN/cr_run" "$BIGMEM" 512 0 "$STOPF" > km.out 2>&1 &
APP=$!
wait_line km.out "step 1" $APP || fail "bigmem did not start"
timeout 60 "$BIN/cr_checkpoint" -q --kill --timeout 1 -f km.img $APP 2> km.err
rc=$?
if [ $rc = 0 ]; then
  [ -s km.img ] || fail "--kill --timeout: success without an image"
  wait $APP; st=$?
  [ $st = 137 ] || fail "--kill --timeout: success but the process was not killed (status $st)"
else
  [ ! -e km.img ] || fail "--kill --timeout: failure but an image exists"
  # Had it been killed, the SIGKILL was sent before cr_checkpoint returned.
  n1=$(wc -l < km.out)
  for _ in $(seq 1200); do [ "$(wc -l < km.out)" -gt "$n1" ] && break; alive $APP || break; sleep 0.05; done
  alive $APP || fail "--kill --timeout: the image was discarded AND the process killed"
fi
kill -9 $APP 2>/dev/null; wait $APP 2>/dev/null

# --signal NUM: any signal after the checkpoint (SIGUSR1 kills the program).
start sig.out
"$BIN/cr_checkpoint" -q --signal 10 -f sig.img $APP || fail "--signal checkpoint failed"
wait $APP; rc=$?
[ $rc = 138 ] || fail "--signal 10: exit status $rc, not 138 (SIGUSR1)"

# cr_restart --relocate OLD=NEW: the program, its cwd and an open file
# moved to another folder.
mkdir -p old && cp "$PROG" old/prog && echo data > old/data.txt
( cd old && exec 7< data.txt && exec "$BIN/cr_run" ./prog 0 50 "$WORK/rel.stop" ) > rel.out 2>&1 &
APP=$!
wait_line rel.out "step 1" $APP || fail "relocate: program did not start"
"$BIN/cr_checkpoint" -q --kill -f rel.img $APP || fail "relocate: checkpoint failed"
wait $APP 2>/dev/null
mv old new
timeout 30 "$BIN/cr_restart" rel.img > /dev/null 2> rel.err
[ $? = 1 ] && grep -q "missing" rel.err || fail "relocate: restart without --relocate did not refuse: $(cat rel.err)"
timeout 60 "$BIN/cr_restart" -q --relocate "$PWD/old=$PWD/new" rel.img > rel-rst.out 2> rel-rst.err &
R=$!
wait_line rel-rst.out "^step" $R || fail "relocate: the restarted program does no step"
touch rel.stop
wait $R; rc=$?
[ $rc = 3 ] || fail "relocate: restarted program exit status $rc, not 3 (its end): $(cat rel-rst.err)"
expect_rc=$(timeout 10 "$BIN/cr_restart" --relocate nonsense rel.img 2>&1 >/dev/null; echo $?)
[ "${expect_rc##*$'\n'}" = 2 ] || fail "--relocate without '=' accepted"

# cr_run: a static binary cannot be preloaded (warned); a missing program
# is exit status 127 like a shell's.
"$BIN/cr_run" "$STATIC" 2> static.err || fail "cr_run of a static program failed"
grep -q "statically linked" static.err || fail "cr_run did not warn about a static binary"
"$BIN/cr_run" ./no-such-program 2> missing.err
rc=$?
[ $rc = 127 ] && grep -q "no-such-program" missing.err || fail "cr_run of a missing program: status $rc"

# cr_checkpoint speaks the control channel itself: it must not load libcr
# (which would start a runtime and a control socket of its own).
ldd "$BIN/cr_checkpoint" | grep -q "libcr\.so" && fail "cr_checkpoint loads libcr.so"

for t in cr_run cr_checkpoint cr_restart cr_info; do
  "$BIN/$t" --help | grep -qi usage || fail "$t --help"
done
if [ $FAILS -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo "PASS: tools"
