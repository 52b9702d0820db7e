#!/usr/bin/env bash
# callbacks_test.sh -- (d) callback order and cr_checkpoint() return values,
# once for CONTINUE and once for RESTART (kill, then restart the image).
#   callbacks_test.sh BIN_DIR WORK_DIR SRC_DIR
set -euo pipefail
BIN=$1 WORK=$2 SRC=$3
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
die() { echo "FAIL: $*" >&2; exit 1; }
wait_for() { for _ in $(seq 1200); do grep -qF "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }

expected() {  # CONTINUE|RESTART restarted-flag
  cat <<EOT
step 0 registered
cr_checkpoint outside a callback: -1
B: CHECKPOINT
A: CHECKPOINT
S: CHECKPOINT (signal context)
S: $1
A: $1 rc$2 (restarted=$3)
B: $1 rc$2 (restarted=$3)
done
EOT
}

# CONTINUE
timeout 60 "$BIN/ckpt_callbacks" > cont.out 2> cont.err &
PID=$!
wait_for cont.out "registered" || die "program did not start"
"$BIN/cr_checkpoint" -q -f cont.img $(pgrep -P $PID) || die "checkpoint failed"
wait $PID || die "program failed after CONTINUE: $(cat cont.err)"
expected CONTINUE "=0" 0 > want.cont
diff want.cont cont.out || die "CONTINUE order/return values differ"

# RESTART
timeout 60 "$BIN/ckpt_callbacks" > run.out 2> run.err &
PID=$!
wait_for run.out "registered" || die "program did not start"
"$BIN/cr_checkpoint" -q --kill -f rst.img $(pgrep -P $PID) || die "checkpoint failed"
set +e; wait $PID; RC=$?; set -e
[ $RC = 137 ] || die "not killed (status $RC)"
timeout 60 "$BIN/cr_restart" -q rst.img > rst.out 2> rst.err || die "restart failed: $(cat rst.err)"
expected RESTART ">0" 1 > want.rst
cat run.out rst.out > got.rst
diff want.rst got.rst || die "RESTART order/return values differ"
echo "PASS: callbacks"
