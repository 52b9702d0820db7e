#!/usr/bin/env bash
# run_fuzz.sh FUZZER WORK_DIR SEED_DIR SECONDS -- one bounded libFuzzer run.
# New corpus entries go to WORK_DIR/corpus, crash inputs to WORK_DIR/ (the
# fuzzer's exit status fails the test and names the file).
set -euo pipefail
FUZZER=$1 WORK=$2 SEEDS=$3 SECONDS_=$4
mkdir -p "$WORK/corpus"
exec "$FUZZER" -max_total_time="$SECONDS_" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$WORK/" "$WORK/corpus" "$SEEDS"
