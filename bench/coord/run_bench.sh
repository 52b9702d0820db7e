#!/usr/bin/env bash
# run_bench.sh [BUILD_DIR] [NRANKS] [RUNS] -- the coordinator's protocol
# time for one checkpoint round with NRANKS (default 1024) simulated ranks.
# Target: under 1 s.
set -euo pipefail
BUILD=${1:-build} N=${2:-1024} RUNS=${3:-7}
exec "$BUILD/bin/coord_bench" "$N" "$RUNS"
