#!/usr/bin/env bash
# manifest_job.sh BIN_DIR TOOL WORK_DIR NRANKS -- a job checkpoint folder
# made with the project's own tools, for the manifest tests: NRANKS copies
# of ckpt_heap under cr_run, each checkpointed with --kill into
# WORK_DIR/job/rank.R.e1.img, then WORK_DIR/job/job.manifest.json
# (manifest_tool make: what the coordinator will write).
set -euo pipefail
BIN=$1 TOOL=$2 WORK=$3 N=$4
rm -rf "$WORK"; mkdir -p "$WORK/job"; chmod 0700 "$WORK/job"; cd "$WORK"
# The test runner's fds must not end up in the images.
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
STOP=$WORK/stop
trap 'touch "$STOP"' EXIT
for r in $(seq 0 $((N - 1))); do
  "$BIN/cr_run" "$BIN/ckpt_heap" 0 20 "$STOP" > run$r.out 2>&1 &
  APP=$!
  for _ in $(seq 1200); do
    grep -q "^step 1" run$r.out && break
    kill -0 $APP 2>/dev/null || break
    sleep 0.05
  done
  grep -q "^step 1" run$r.out || { echo "FAIL: rank $r did not start: $(tail -3 run$r.out)"; exit 1; }
  "$BIN/cr_checkpoint" -q --kill -f "job/rank.$r.e1.img" $APP || { echo "FAIL: cr_checkpoint rank $r"; exit 1; }
  wait $APP 2>/dev/null || true
done
"$TOOL" make job "$N" 1
ls -l job
echo "PASS: job of $N ranks in $WORK/job"
