#!/bin/bash
# run_bench.sh [BUILD_DIR]: plain mpirun vs crmpirun, side by side in one run,
# two ranks; prints each figure and the ratio crmpi/native.
set -eu
build=${1:-$(dirname "$0")/../../build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
crmpirun=$build/bin/crmpirun
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run_both() {  # name, command...
  local name=$1
  shift
  mpirun -np 2 "$@" >"$tmp/$name.native"
  "$crmpirun" -np 2 "$@" >"$tmp/$name.crmpi"
}
run_both micro "$build/bin/mpibench"
run_both stencil "$build/bin/stencil" 1024 400
( cd "$tmp" && sed -e 's/^1000         Ns/2000         Ns/' -e 's/^2            Ps/1            Ps/' \
    /usr/share/doc/hpcc/examples/_hpccinf.txt >hpccinf.txt &&
  mpirun -np 2 hpcc >/dev/null && grep -E '^(HPL_Tflops|PTRANS_GBs|MPIRandomAccess_GUPs|MPIFFT_Gflops|RandomlyOrderedRingLatency_usec)=' hpccoutf.txt | tr '=' ' ' >hpcc.native &&
  rm hpccoutf.txt && "$crmpirun" -np 2 hpcc >/dev/null &&
  grep -E '^(HPL_Tflops|PTRANS_GBs|MPIRandomAccess_GUPs|MPIFFT_Gflops|RandomlyOrderedRingLatency_usec)=' hpccoutf.txt | tr '=' ' ' >hpcc.crmpi )
printf "%-34s %14s %14s %8s\n" figure native crmpi ratio
cat "$tmp"/*.native | while read -r key nat; do
  cr=$(cat "$tmp"/*.crmpi | awk -v k="$key" '$1 == k {print $2}')
  ratio=$(awk -v a="$cr" -v b="$nat" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }')
  printf "%-34s %14s %14s %8s\n" "$key" "$nat" "$cr" "$ratio"
done
