#!/bin/bash
# ckpt_any.sh BIN MPIRUN NP PROG [ARGS...]
# Job checkpoints of any self-checking MPI program, at moments chosen by
# call count ($CRMPI_TEST_CKPT_CALLS: rank 0 asks for a job checkpoint when
# it starts its K-th call to the lower half):
#   continue  checkpoints at calls 3, 12 and 40 (those the program reaches);
#             output equals plain mpirun's; at least one committed
#   restart   a checkpoint at call 5 that ends the job, then crmpirun
#             --restart of it; output before + after equals plain mpirun's
# Outputs are compared sorted (ranks interleave differently from run to run;
# --tag-output keeps lines whole).
set -u
bin=$(cd "$1" && pwd) mpirun=$2 np=$3
shift 3
T=$(mktemp -d /tmp/crmpi-ckany.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fail() { echo "FAILED: $*"; for f in "$T"/*.out "$T"/*.err; do [ -s "$f" ] && { echo "== $f"; tail -15 "$f"; }; done; exit 1; }
lines() { grep -hv '^\[.*\]<stderr>' "$@" | sed 's/^\[[0-9]*,\([0-9]*\)\]<stdout>:/[\1]/' | sort; }
run=("$bin/crmpirun" -np "$np" --oversubscribe --tag-output)

timeout -k 5 60 "$mpirun" -np "$np" --oversubscribe --tag-output "$@" >native.out 2>native.err ||
  fail "plain mpirun exited $?"
[ -s native.out ] || fail "no output"

CRMPI_TEST_CKPT_CALLS=3,12,40 timeout -k 5 120 "${run[@]}" "$@" >cont.out 2>cont.err ||
  fail "crmpirun with checkpoints exited $?"
[ "$(lines native.out)" = "$(lines cont.out)" ] || fail "output with checkpoints (continue) differs"
n=$(grep -c "committed:" cont.err)
[ "$n" -ge 1 ] || fail "no checkpoint committed"
echo "continue: $n checkpoint(s) committed, output identical"

mkdir k && cd k || exit 1
CRMPI_TEST_CKPT_CALLS=5 CRMPI_TEST_CKPT_AFTER=kill timeout -k 5 120 "${run[@]}" "$@" >../k1.out 2>../k1.err
ck=$(ls -d ./*.ckpt.1 2>/dev/null)
[ -n "$ck" ] && [ -f "$ck/job.manifest.json" ] || fail "no committed checkpoint at call 5"
timeout -k 5 120 "$bin/crmpirun" --restart "$ck" >../k2.out 2>../k2.err || fail "restart exited $?"
cd ..
[ "$(lines native.out)" = "$(lines k1.out k2.out)" ] || fail "output across kill and restart differs"
echo "restart: checkpoint at call 5, killed, restarted: output identical"
