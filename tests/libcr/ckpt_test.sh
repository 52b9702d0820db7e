#!/usr/bin/env bash
# ckpt_test.sh -- drive a real checkpoint/restart of a test program and
# compare its output with an uninterrupted run.
#
#   ckpt_test.sh BIN_DIR WORK_DIR MODE [options] -- PROG ARGS...
#
# The program runs until told to stop (CRIU's zdtm style), never ending
# on its own, so no checkpoint can come too late: among ARGS, @STOP@ is
# replaced by a stop file the program polls between steps and @STEPS@ by 0.
# The test creates the stop file once the last (restarted or continued)
# process has done a step of its own; the program then finishes and checks
# its own state.  The uninterrupted reference is run afterwards, with
# @STEPS@ the number of "step" lines the interrupted run printed in all and
# no stop file, and must print exactly the same and exit the same way.
#
# MODE:
#   kill      run under cr_run, checkpoint --kill at the marker, restart;
#             printed-before + printed-after-restart must equal the
#             uninterrupted output, and the exit status must match
#   continue  checkpoint at the marker and let it continue: same output
#   twice     like kill, then restart the same image a second time
#   chain     like kill, then checkpoint the restarted process once it has
#             done a step, kill it, and restart that image
#   repeat    eight checkpoints with continue while it runs, then one with
#             --kill and a restart (races in stopping and releasing threads)
# options:
#   --marker TEXT    checkpoint once TEXT appears in the output (default "step 3")
#   --compress       pass --compress to cr_checkpoint
#   --env K=V        environment for the checkpointed run only
#   --no-aslr        run the program and cr_restart with ASLR off: both then
#                    use the same addresses, so every region collides with
#                    cr_restart's own and takes the staged path
set -euo pipefail

BIN=$1 WORK=$2 MODE=$3
shift 3
MARKER="step 3" COMPRESS="" RUNENV=() WRAP=()
while [ $# -gt 0 ]; do
  case $1 in
    --marker) MARKER=$2; shift 2 ;;
    --compress) COMPRESS=--compress; shift ;;
    --env) RUNENV+=("$2"); shift 2 ;;
    --no-aslr) WRAP=(setarch -R); shift ;;
    --) shift; break ;;
    *) echo "ckpt_test: bad option $1" >&2; exit 2 ;;
  esac
done
[ $# -ge 1 ] || { echo "ckpt_test: no program" >&2; exit 2; }
PROG=("$@")
STOP=$WORK/stop
RUN=()
for a in "${PROG[@]}"; do
  case $a in
    @STOP@) RUN+=("$STOP") ;;
    @STEPS@) RUN+=(0) ;;
    *) RUN+=("$a") ;;
  esac
done
[[ " ${PROG[*]} " == *" @STOP@ "* ]] || { echo "ckpt_test: the program takes no @STOP@ file" >&2; exit 2; }

rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
# Do not leak the test runner's fds (CTest's log) into the program: they
# would be part of its image.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
# Whatever happens, nothing is left running until its timeout.
trap 'touch "$STOP"' EXIT
die() { echo "FAIL: $*" >&2; for f in *.out *.err; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }

wait_for() {  # FILE TEXT PID: wait until TEXT is printed (or PID exits)
  for _ in $(seq 1 2400); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
steps() { cat "$@" | grep -c '^step' || true; }
wait_step() {  # FILE PID: wait until FILE holds a step line (or PID exits)
  for _ in $(seq 1 2400); do
    [ "$(steps "$1")" -gt 0 ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# The uninterrupted reference, for as many steps as FILES hold.
reference() {  # FILES...
  local n a ref=()
  n=$(steps "$@")
  for a in "${PROG[@]}"; do
    case $a in
      @STOP@) ;;
      @STEPS@) ref+=("$n") ;;
      *) ref+=("$a") ;;
    esac
  done
  set +e
  timeout 300 "${ref[@]}" > ref.out 2> ref.err
  REF_RC=$?
  set -e
  [ $REF_RC -lt 124 ] || die "reference run failed or timed out (status $REF_RC)"
}

checkpoint() {  # PID IMAGE [extra args]
  local pid=$1 img=$2; shift 2
  timeout 120 "$BIN/cr_checkpoint" -q $COMPRESS -f "$img" "$@" "$pid" 2> ckpt.err || die "cr_checkpoint $pid failed: $(cat ckpt.err)"
  [ -s "$img" ] || die "no image $img"
  "$BIN/cr_info" "$img" > "$img.info" 2>&1 || die "cr_info rejects $img: $(tail -1 "$img.info")"
}

compare() {  # RC FILES...: the reference for as many steps, then compare
  local rc=$1; shift
  reference "$@"
  cat "$@" > got.out
  cmp -s ref.out got.out || { diff ref.out got.out | head -20 >&2; die "output differs from the uninterrupted run"; }
  [ "$rc" = "$REF_RC" ] || die "exit status $rc, uninterrupted run had $REF_RC"
}

killed() {  # PID: it was killed by checkpoint --kill
  local rc
  set +e; wait "$1"; rc=$?; set -e
  [ $rc = 137 ] || die "process was not killed after checkpoint --kill (status $rc)"
}

# Restart IMAGE in the background, writing OUT; sets RPID.
restart_bg() {  # IMAGE OUT
  rm -f "$STOP"
  timeout 300 "${WRAP[@]}" "$BIN/cr_restart" -q "$1" > "$2" 2> "$2.err" &
  RPID=$!
  wait_step "$2" $RPID || die "restarted from $1, no step printed: $(tail -3 "$2.err")"
}
# Restart IMAGE into OUT, let it do a step, stop it; sets RRC.
restart() {  # IMAGE OUT
  restart_bg "$1" "$2"
  touch "$STOP"
  set +e; wait $RPID; RRC=$?; set -e
  [ $RRC -lt 124 ] || die "cr_restart $1 died (status $RRC): $(tail -3 "$2.err")"
}

# The run under cr_run, checkpointed at the marker.
rm -f "$STOP"
env "${RUNENV[@]}" timeout 300 "${WRAP[@]}" "$BIN/cr_run" "${RUN[@]}" > run.out 2> run.err &
PID=$!
wait_for run.out "$MARKER" $PID || die "marker '$MARKER' never printed"
# timeout runs cr_run, which execs PROG, as its child.
APP=$(pgrep -P $PID | head -1 || true)
[ -n "$APP" ] || die "cannot find the program's PID"

case $MODE in
  continue)
    checkpoint $APP img1
    # It goes on by itself: a step after the checkpoint, then stop it.
    N0=$(steps run.out)
    for _ in $(seq 2400); do [ "$(steps run.out)" -gt "$N0" ] && break; kill -0 $PID 2>/dev/null || break; sleep 0.05; done
    [ "$(steps run.out)" -gt "$N0" ] || die "no step after the checkpoint"
    touch "$STOP"
    set +e; wait $PID; RC=$?; set -e
    compare $RC run.out
    ;;
  repeat)
    for i in 1 2 3 4 5 6 7 8; do
      checkpoint $APP img$i
      sleep 0.05  # spacing only: nothing is assumed to have happened
    done
    checkpoint $APP img9 --kill
    killed $PID
    restart img9 r1.out
    grep -q "^verdict ok" r1.out || die "the restarted program's own check: $(tail -2 r1.out)"
    compare $RRC run.out r1.out
    ;;
  kill|twice)
    checkpoint $APP img1 --kill
    killed $PID
    restart img1 r1.out
    compare $RRC run.out r1.out
    if [ $MODE = twice ]; then
      restart img1 r2.out
      compare $RRC run.out r2.out
    fi
    ;;
  chain)
    checkpoint $APP img1 --kill
    killed $PID
    restart_bg img1 r1.out
    RAPP=$(pgrep -P $RPID | head -1 || true)
    [ -n "$RAPP" ] || die "cannot find the restarted process"
    checkpoint $RAPP img2 --kill
    killed $RPID
    restart img2 r2.out
    compare $RRC run.out r1.out r2.out
    ;;
  *) die "unknown mode $MODE" ;;
esac
echo "PASS: $MODE ${PROG[*]}"
