#!/bin/bash
# launcher_test.sh CASE CRMPIRUN FAILURE_PROG
# Checks that crmpirun behaves like mpirun when things go wrong.
set -u
case_=$1 crmpirun=$2 prog=$3
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
fail() { echo "FAIL: $*"; echo "--- stdout"; cat "$out"; echo "--- stderr"; cat "$err"; exit 1; }
leftovers() { local p; p=$(pgrep -x "$(basename "$prog")"; pgrep -f "cr_agent $prog"); [ -n "$p" ] && { ps -o pid,args -p $p; return 0; }; return 1; }
run() { timeout 60 "$crmpirun" "$@" >"$out" 2>"$err"; }

case $case_ in
  segv)
    run -np 2 "$prog" segv && fail "exit status 0 after a crash"
    grep -q "rank 1: application killed by signal 11" "$err" || fail "no message naming rank 1 and SIGSEGV" ;;
  abort)
    run -np 2 "$prog" abort; rc=$?
    [ $rc -ne 0 ] || fail "MPI_Abort gave exit 0"
    grep -q "crmpi: rank 1: application called MPI_Abort with error code 7" "$err" || fail "no MPI_Abort message" ;;
  nofinal)
    run -np 2 "$prog" nofinal && fail "exit 0 although rank 1 skipped MPI_Finalize"
    grep -q "rank 1: application exited with status 3 without calling MPI_Finalize" "$err" || fail "no message" ;;
  unsupported)
    run -np 2 "$prog" unsupp && fail "unsupported call gave exit 0"
    grep -q "crmpi: MPI_Win_create is not supported" "$err" || fail "no 'not supported' message" ;;
  missing)
    run -np 2 /nonexistent/program; rc=$?
    [ $rc -ne 0 ] || fail "missing program gave exit 0"
    grep -q "no such executable" "$err" || fail "no clear message" ;;
  badopt)
    run -np; rc=$?
    [ $rc -ne 0 ] || fail "bad option gave exit 0"
    grep -q "needs" "$err" || fail "no clear message"
    run; [ $? -ne 0 ] || fail "no program gave exit 0" ;;
  stdin)
    printf 'hello\nworld\n' | timeout 60 "$crmpirun" -np 2 "$prog" stdin >"$out" 2>"$err" || fail "stdin run failed"
    [ "$(cat "$out")" = "$(printf 'echo: hello\necho: world')" ] || fail "stdin not forwarded" ;;
  sigterm | sigint)
    sig=TERM
    [ "$case_" = sigint ] && sig=INT
    timeout 60 "$crmpirun" -np 2 "$prog" sleep >"$out" 2>"$err" &
    pid=$!
    for _ in $(seq 100); do [ "$(grep -c sleeping "$out")" = 2 ] && break; sleep 0.1; done
    [ "$(grep -c sleeping "$out")" = 2 ] || fail "ranks did not start"
    cpid=$(pgrep -P $pid -x crmpirun || echo $pid)  # the crmpirun under timeout
    kill -$sig $cpid
    wait $pid; rc=$?
    [ $rc -ne 0 ] || fail "SIG$sig gave exit 0"
    sleep 1
    leftovers && fail "orphan processes left behind" ;;
  *) echo "unknown case $case_"; exit 2 ;;
esac
sleep 0.5
leftovers && fail "orphan processes left behind"
echo "ok: $case_"
