#!/usr/bin/env bash
# ckpt_test.sh -- drive a real checkpoint/restart of a test program and
# compare its output with an uninterrupted run.
#
#   ckpt_test.sh BIN_DIR WORK_DIR MODE [options] -- PROG ARGS...
#
# MODE:
#   kill      run under cr_run, checkpoint --kill at the marker, restart;
#             printed-before + printed-after-restart must equal the
#             uninterrupted output, and the exit status must match
#   continue  checkpoint at the marker and let it continue: same output
#   twice     like kill, then restart the same image a second time
#   chain     like kill, then checkpoint the restarted process at a second
#             marker, kill it, and restart that image
#   repeat    eight checkpoints with continue while it runs, then one with
#             --kill and a restart (races in stopping and releasing threads).
#             The program's last argument is a stop file: it runs until the
#             test creates it (never ending on its own between checkpoints),
#             and the reference is then run for as many rounds as it did.
# options:
#   --marker TEXT    checkpoint once TEXT appears in the output (default "step 3")
#   --marker2 TEXT   second marker for chain (default "step 6")
#   --compress       pass --compress to cr_checkpoint
#   --env K=V        environment for the checkpointed run only
#   --no-aslr        run the program and cr_restart with ASLR off: both then
#                    use the same addresses, so every region collides with
#                    cr_restart's own and takes the staged path
set -euo pipefail

BIN=$1 WORK=$2 MODE=$3
shift 3
MARKER="step 3" MARKER2="step 6" COMPRESS="" RUNENV=() WRAP=()
while [ $# -gt 0 ]; do
  case $1 in
    --marker) MARKER=$2; shift 2 ;;
    --marker2) MARKER2=$2; shift 2 ;;
    --compress) COMPRESS=--compress; shift ;;
    --env) RUNENV+=("$2"); shift 2 ;;
    --no-aslr) WRAP=(setarch -R); shift ;;
    --) shift; break ;;
    *) echo "ckpt_test: bad option $1" >&2; exit 2 ;;
  esac
done
[ $# -ge 1 ] || { echo "ckpt_test: no program" >&2; exit 2; }

rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
# Do not leak the test runner's fds (CTest's log) into the program: they
# would be part of its image.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
die() { echo "FAIL: $*" >&2; for f in *.out *.err; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done; exit 1; }

wait_for() {  # FILE TEXT PID: wait until TEXT is printed (or PID exits)
  for _ in $(seq 1 600); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# 1. The uninterrupted reference run (repeat: at the end, once the number
# of rounds is known).
reference() {
  set +e
  timeout 300 "$@" > ref.out 2> ref.err
  REF_RC=$?
  set -e
  [ $REF_RC -lt 124 ] || die "reference run failed or timed out (status $REF_RC)"
}
if [ "$MODE" = repeat ]; then
  STOP=${!#}
  rm -f "$STOP"
else
  reference "$@"
fi

# 2. The run under cr_run, checkpointed at the marker.
env "${RUNENV[@]}" timeout 300 "${WRAP[@]}" "$BIN/cr_run" "$@" > run.out 2> run.err &
PID=$!
wait_for run.out "$MARKER" $PID || die "marker '$MARKER' never printed"
# timeout runs cr_run, which execs PROG, as its child.
APP=$(pgrep -P $PID | head -1 || true)
[ -n "$APP" ] || die "cannot find the program's PID"

checkpoint() {  # PID IMAGE [extra args]
  local pid=$1 img=$2; shift 2
  timeout 120 "$BIN/cr_checkpoint" -q $COMPRESS -f "$img" "$@" "$pid" 2> ckpt.err || die "cr_checkpoint $pid failed: $(cat ckpt.err)"
  [ -s "$img" ] || die "no image $img"
  "$BIN/cr_info" "$img" > "$img.info" 2>&1 || die "cr_info rejects $img: $(tail -1 "$img.info")"
}

compare() {  # EXPECTED-RC RC FILES...
  local rc=$2 want=$1; shift 2
  cat "$@" > got.out
  cmp -s ref.out got.out || { diff ref.out got.out | head -20 >&2; die "output differs from the uninterrupted run"; }
  [ "$rc" = "$want" ] || die "exit status $rc, uninterrupted run had $want"
}

restart() {  # IMAGE OUT -> sets RRC
  set +e
  timeout 300 "${WRAP[@]}" "$BIN/cr_restart" -q "$1" > "$2" 2> "$2.err"
  RRC=$?
  set -e
  [ $RRC -lt 124 ] || [ $RRC = "$REF_RC" ] || die "cr_restart $1 died (status $RRC): $(tail -3 "$2.err")"
}

case $MODE in
  continue)
    checkpoint $APP img1
    set +e; wait $PID; RC=$?; set -e
    compare $REF_RC $RC run.out
    ;;
  repeat)
    for i in 1 2 3 4 5 6 7 8; do
      checkpoint $APP img$i
      sleep 0.05
    done
    checkpoint $APP img9 --kill
    set +e; wait $PID; RC=$?; set -e
    [ $RC = 137 ] || die "process was not killed after checkpoint --kill (status $RC)"
    # The restarted program runs until told to stop: let it do a round
    # more, stop it, then run the reference for the same number of rounds.
    set +e
    timeout 300 "${WRAP[@]}" "$BIN/cr_restart" -q img9 > r1.out 2> r1.out.err &
    RPID=$!
    set -e
    N0=$(grep -c '^step' run.out || true)
    for _ in $(seq 600); do [ "$(grep -c '^step' r1.out || true)" -gt 0 ] && break; sleep 0.05; done
    touch "$STOP"
    set +e; wait $RPID; RRC=$?; set -e
    grep -q "^verdict ok" r1.out || die "the restarted program's own check: $(tail -2 r1.out)"
    N=$(cat run.out r1.out | grep -c '^step')
    [ "$N" -gt "$N0" ] || die "no round after the restart"
    reference "$1" "$N" 0  # the same program for N rounds, no delay, no stop file
    compare $REF_RC $RRC run.out r1.out
    ;;
  kill|twice|chain)
    checkpoint $APP img1 --kill
    set +e; wait $PID; RC=$?; set -e
    [ $RC = 137 ] || die "process was not killed after checkpoint --kill (status $RC)"
    if [ $MODE = chain ]; then
      timeout 300 "${WRAP[@]}" "$BIN/cr_restart" -q img1 > r1.out 2> r1.err &
      RPID=$!
      wait_for r1.out "$MARKER2" $RPID || die "restarted process never printed '$MARKER2'"
      RAPP=$(pgrep -P $RPID | head -1 || true)
      [ -n "$RAPP" ] || die "cannot find the restarted process"
      checkpoint $RAPP img2 --kill
      set +e; wait $RPID; RC=$?; set -e
      [ $RC = 137 ] || die "restarted process was not killed (status $RC)"
      restart img2 r2.out
      compare $REF_RC $RRC run.out r1.out r2.out
    else
      restart img1 r1.out
      compare $REF_RC $RRC run.out r1.out
      if [ $MODE = twice ]; then
        restart img1 r2.out
        compare $REF_RC $RRC run.out r2.out
      fi
    fi
    ;;
  *) die "unknown mode $MODE" ;;
esac
echo "PASS: $MODE $*"
