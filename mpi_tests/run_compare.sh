#!/bin/sh
# run_compare.sh CRMPIRUN MPIRUN NP PROG [ARGS...]
# Runs PROG under plain mpirun and under crmpirun; both must exit 0 and print
# the same lines (sorted: ranks interleave differently from run to run;
# --tag-output makes mpirun forward whole lines, so ranks never mix mid-line).
set -u
crmpirun=$1 mpirun=$2 np=$3
shift 3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
timeout -k 5 50 "$mpirun" -np "$np" --oversubscribe --tag-output "$@" >"$dir/native" 2>"$dir/native.err"
rn=$?
timeout -k 5 50 "$crmpirun" -np "$np" --oversubscribe --tag-output "$@" >"$dir/crmpi" 2>"$dir/crmpi.err"
rc=$?
status=0
if [ $rn -ne 0 ]; then echo "plain mpirun failed ($rn, 124 = timeout):"; cat "$dir/native" "$dir/native.err"; status=1; fi
if [ $rc -ne 0 ]; then echo "crmpirun failed ($rc, 124 = timeout):"; cat "$dir/crmpi" "$dir/crmpi.err"; status=1; fi
sort "$dir/native" >"$dir/native.sorted"
sort "$dir/crmpi" >"$dir/crmpi.sorted"
[ -s "$dir/native.sorted" ] || { echo "no output"; status=1; }
if ! diff -u "$dir/native.sorted" "$dir/crmpi.sorted"; then echo "outputs differ"; status=1; fi
[ $status -eq 0 ] && echo "identical output ($(wc -l <"$dir/crmpi") lines), both exit 0"
exit $status
