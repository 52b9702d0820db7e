#!/bin/bash
# run_app.sh KIND CRMPIRUN MPIRUN SRCDIR [PYTHON]: real applications under crmpirun.
#   hpcc    small input; its own verification must pass (Success=1, no failed
#           residual checks)
#   lammps  examples/melt; thermo output must equal plain mpirun's
#   mpi4py  apps/mpi4py_check.py; output must equal plain mpirun's
set -u
kind=$1 crmpirun=$2 mpirun=$3 src=$4 py=${5:-/usr/bin/python3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
case $kind in
  hpcc)
    cp "$src/apps/hpccinf.txt" .
    timeout 120 "$crmpirun" -np 2 hpcc >out 2>err || { cat err; fail "hpcc exited non-zero"; }
    grep -q "^Success=1" hpccoutf.txt || fail "hpcc verification: no Success=1"
    grep -q "FAILED" hpccoutf.txt && { grep FAILED hpccoutf.txt; fail "hpcc reports FAILED"; }
    grep -E "^(Success|HPL_Tflops|PTRANS_GBs|MPIRandomAccess_GUPs|StarSTREAM_Triad|MPIFFT_Gflops)=" hpccoutf.txt
    ;;
  lammps)
    thermo() { awk '/^ *Step/{p=1} /^Loop time/{p=0} p' "$1"; }
    timeout 120 "$mpirun" -np 2 lmp -in /usr/share/lammps/examples/melt/in.melt -log none -nocite >native 2>&1 ||
      fail "plain mpirun lammps failed"
    timeout 120 "$crmpirun" -np 2 lmp -in /usr/share/lammps/examples/melt/in.melt -log none -nocite >crmpi 2>&1 ||
      { cat crmpi; fail "crmpirun lammps failed"; }
    thermo native >a
    thermo crmpi >b
    [ -s a ] || fail "no thermo output"
    diff a b || fail "thermo output differs"
    cat b
    ;;
  mpi4py)
    # Ranks share one stdout and mpirun may interleave their chunks mid-line:
    # compare the per-rank reports, wherever they are.
    report() { grep -o "rank [0-9]*: mpi4py ok, size [0-9]*, name True" | sort; }
    timeout 120 "$mpirun" -np 3 --oversubscribe "$py" "$src/apps/mpi4py_check.py" 2>&1 | report >native
    timeout 120 "$crmpirun" -np 3 --oversubscribe "$py" "$src/apps/mpi4py_check.py" 2>&1 | report >crmpi
    diff native crmpi || fail "mpi4py output differs"
    grep -c "mpi4py ok" crmpi | grep -q 3 || fail "not every rank finished"
    cat crmpi
    ;;
esac
echo "ok: $kind"
