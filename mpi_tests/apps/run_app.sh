#!/bin/bash
# run_app.sh KIND CRMPIRUN MPIRUN SRCDIR [PYTHON]: real applications under crmpirun.
#   hpcc    small input; its own verification must pass (Success=1, no failed
#           residual checks)
#   lammps  examples/melt; thermo output must equal plain mpirun's
#   mpi4py  apps/mpi4py_check.py; output must equal plain mpirun's
# and the same checkpointed mid-run with `cr_checkpoint --kill`, then
# restarted with `crmpirun --restart` (cr_checkpoint next to CRMPIRUN):
#   hpcc_ckpt    once its MPIRandomAccess section began; verification passes
#   lammps_ckpt  melt run for 2000 steps, at step 300; thermo output across
#                both runs equals an uninterrupted run's
#   mpi4py_ckpt  apps/mpi4py_ckpt.py at its gate (a message in flight)
set -u
kind=$1 crmpirun=$2 mpirun=$3 src=$4 py=${5:-/usr/bin/python3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
bin=$(dirname "$crmpirun")
# wait_for FILE PATTERN: until FILE has a line matching PATTERN (90 s at most)
wait_for() {
  for _ in $(seq 1800); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "no '$2' in $1 after 90 s"
}
# kill_restart PID DIR: checkpoint the job with --kill into DIR, then
# restart it (output to restart.out); both must succeed.
kill_restart() {
  "$bin/cr_checkpoint" --kill -f "$2" "$1" >ck.out 2>&1 || { cat ck.out; fail "cr_checkpoint --kill exited non-zero"; }
  { wait "$1"; } 2>/dev/null
  "$bin/cr_info" "$2" >/dev/null || fail "cr_info rejects the checkpoint"
  timeout 150 "$crmpirun" --restart "$2" >restart.out 2>restart.err || { cat restart.out restart.err; fail "restarted job failed"; }
}
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
  hpcc_ckpt)
    cp "$src/apps/hpccinf.txt" .
    "$crmpirun" -np 2 hpcc >out 2>err &
    wait_for hpccoutf.txt "Begin of MPIRandomAccess section"
    kill_restart $! ck
    grep -q "^Success=1" hpccoutf.txt || fail "hpcc verification after restart: no Success=1"
    grep -q "FAILED" hpccoutf.txt && { grep FAILED hpccoutf.txt; fail "hpcc reports FAILED"; }
    grep -c "End of MPIRandomAccess section" hpccoutf.txt | grep -qx 1 || fail "a section ran twice"
    grep -E "^(Success|MPIRandomAccess_GUPs|PTRANS_GBs)=" hpccoutf.txt
    ;;
  lammps_ckpt)
    thermo() { awk '/^ *Step/{p=1} /^Loop time/{p=0} p' "$@"; }
    sed -e 's/^run.*/run 2000/' -e 's/^thermo[[:space:]].*/thermo 100/' /usr/share/lammps/examples/melt/in.melt >in.melt
    timeout 120 "$mpirun" -np 2 lmp -in in.melt -log none -nocite >native 2>&1 || fail "plain mpirun lammps failed"
    "$crmpirun" -np 2 lmp -in in.melt -log none -nocite >crmpi 2>&1 &
    wait_for crmpi "^ *300 "
    kill_restart $! ck
    thermo native >a
    thermo crmpi restart.out >b
    [ -s a ] || fail "no thermo output"
    diff a b || fail "thermo output across checkpoint and restart differs"
    cat b
    ;;
  mpi4py_ckpt)
    report() { grep -ho "rank [0-9]*: digest [0-9a-f]*" "$@" | sort; }
    touch go
    timeout 120 "$mpirun" -np 3 --oversubscribe "$py" "$src/apps/mpi4py_ckpt.py" go >native 2>&1 || fail "plain mpirun failed"
    rm go
    "$crmpirun" -np 3 --oversubscribe "$py" "$src/apps/mpi4py_ckpt.py" "$PWD/go" >crmpi 2>&1 &
    wait_for crmpi "^GATE 1"
    job=$!
    "$bin/cr_checkpoint" --kill -f ck "$job" >ck.out 2>&1 || { cat ck.out crmpi; fail "cr_checkpoint --kill exited non-zero"; }
    { wait "$job"; } 2>/dev/null
    touch go
    timeout 150 "$crmpirun" --restart ck >restart.out 2>restart.err || { cat restart.out restart.err; fail "restarted job failed"; }
    report native >a
    report crmpi restart.out >b
    [ "$(wc -l <a)" -eq 3 ] || fail "plain mpirun: not every rank reported"
    diff a b || fail "digests across checkpoint and restart differ"
    cat b
    ;;
esac
echo "ok: $kind"
