#!/bin/bash
# run_bench.sh [BUILD_DIR] [ROUNDS]: plain mpirun vs crmpirun, two ranks,
# side by side in one run. Each figure is measured ROUNDS times (default 3),
# alternating native and crmpi, and the best of each is kept (the machine is
# shared and noisy; best-of-N compares both at their least disturbed).
# Prints each figure, the ratio crmpi/native and, for latencies, the
# difference in microseconds.
set -eu
build=$(cd "${1:-$(dirname "$0")/../../build}" && pwd)
rounds=${2:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
crmpirun=$build/bin/crmpirun
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hpcc_figures='^(HPL_Tflops|PTRANS_GBs|MPIRandomAccess_GUPs|MPIFFT_Gflops|RandomlyOrderedRingLatency_usec|RandomlyOrderedRingBandwidth_GBytes)='
run_hpcc() {  # launcher... -> figures on stdout
  (cd "$tmp" && rm -f hpccoutf.txt && "$@" -np 2 hpcc >/dev/null && grep -E "$hpcc_figures" hpccoutf.txt | tr '=' ' ')
}
sed -e 's/^1000         Ns/2000         Ns/' -e 's/^2            Ps/1            Ps/' \
  /usr/share/doc/hpcc/examples/_hpccinf.txt >"$tmp/hpccinf.txt"
for r in $(seq "$rounds"); do
  for side in native crmpi; do
    if [ $side = native ]; then L=mpirun; else L=$crmpirun; fi
    {
      $L -np 1 --bind-to none "$build/bin/mpibench"
      $L -np 2 "$build/bin/mpibench"
      $L -np 2 "$build/bin/stencil" 1024 2000
      run_hpcc $L
    } >>"$tmp/$side"
  done
  echo "round $r done" >&2
done
# Lower is better for latencies, higher for the rest.
best() {  # file key
  awk -v k="$2" '$1 == k { v = $2 + 0; if (!n++ || (k ~ /(_us|usec)/ ? v < b : v > b)) b = v } END { if (n) print b }' "$1"
}
printf "%-36s %14s %14s %8s %10s\n" figure native crmpi ratio added
awk '{print $1}' "$tmp/native" | awk '!seen[$0]++' | while read -r key; do
  [ "$key" = stencil_checksum ] && continue
  n=$(best "$tmp/native" "$key")
  c=$(best "$tmp/crmpi" "$key")
  awk -v k="$key" -v n="$n" -v c="$c" 'BEGIN {
    ratio = (n + 0 == 0) ? "-" : sprintf("%.2f", c / n);
    added = (k ~ /(_us|usec)/) ? sprintf("%+.2f us", c - n) : "";
    printf "%-36s %14s %14s %8s %10s\n", k, n, c, ratio, added }'
done
echo "Floor under a call to the agent (two handoffs when app and agent share a CPU):"
"$build/bin/handoff"
if ! diff <(grep stencil_checksum "$tmp/native" | sort -u) <(grep stencil_checksum "$tmp/crmpi" | sort -u) >/dev/null; then
  echo "WARNING: stencil checksums differ"
fi
