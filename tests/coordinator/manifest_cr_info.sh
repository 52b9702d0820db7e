#!/usr/bin/env bash
# manifest_cr_info.sh BIN_DIR JOB_DIR WORK_DIR -- cr_info on a job
# checkpoint folder (made by manifest_job.sh): a good one is listed rank by
# rank with exit status 0; a damaged or missing image fails it, naming the
# rank; a single image still gets today's output.
set -uo pipefail
BIN=$1 JOB=$2 WORK=$3
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
[ -f "$JOB/job.manifest.json" ] || { echo "FAIL: no job in $JOB (manifest_job.sh failed?)"; exit 1; }
cp -a "$JOB" job
N=$(ls job/rank.*.img | wc -l)

# Good: the folder, and the manifest itself.
for arg in job job/ job/job.manifest.json; do
  "$BIN/cr_info" "$arg" > good.out 2> good.err || fail "cr_info $arg: status $?: $(cat good.err)"
  for r in $(seq 0 $((N - 1))); do
    grep -Eq "^ +$r +localhost +rank\.$r\.e1\.img +[0-9]+ +[0-9a-f]{16} +ok$" good.out ||
      fail "cr_info $arg: no good line for rank $r"
  done
  grep -q "^nranks: *$N$" good.out || fail "cr_info $arg: no nranks line"
  grep -q "^epoch: *1, taken 2026-12-02T05:14:35Z" good.out || fail "cr_info $arg: no epoch line"
done
cat good.out
# One image on its own: today's output.
"$BIN/cr_info" job/rank.0.e1.img > one.out 2>&1 || fail "cr_info on one image: $(tail -1 one.out)"
grep -q "^image: *job/rank.0.e1.img" one.out || fail "cr_info on one image: not the image output"
grep -q "^checksums: all" one.out || fail "cr_info on one image: not verified"

# A flipped byte in the middle of rank 1's image (page data): only the deep
# check (cr_info's default) reads it.
size=$(stat -c %s job/rank.1.e1.img)
printf '\xff' | dd of=job/rank.1.e1.img bs=1 seek=$((size / 2)) conv=notrunc status=none
"$BIN/cr_info" job > bad.out 2> bad.err
rc=$?
[ $rc = 1 ] || fail "flipped byte: status $rc, expected 1"
grep -q "rank 1: image rank.1.e1.img: .*checksum" bad.err || fail "flipped byte: stderr does not name rank 1: $(cat bad.err)"
grep -Eq "^ +1 .*rank\.1\.e1\.img .*checksum" bad.out || fail "flipped byte: rank 1's line has no problem"
grep -Eq "^ +0 .* ok$" bad.out || fail "flipped byte: rank 0 no longer ok"
cat bad.out bad.err

# A missing image.
rm job/rank.$((N - 1)).e1.img
"$BIN/cr_info" --no-verify job > miss.out 2> miss.err
[ $? = 1 ] || fail "missing image: status not 1"
grep -Eq "^ +$((N - 1)) .* missing$" miss.out || fail "missing image: not reported: $(cat miss.out)"
# Not a checkpoint.
mkdir empty
"$BIN/cr_info" empty > /dev/null 2> empty.err
[ $? = 1 ] || fail "empty folder: status not 1"
grep -q "no job.manifest.json in empty: not a complete checkpoint" empty.err || fail "empty folder: $(cat empty.err)"
echo '{"schema": "crmpi.job-manifest", "schema_version": 2}' > job/job.manifest.json
"$BIN/cr_info" job > /dev/null 2> v2.err
[ $? = 1 ] || fail "schema version 2: status not 1"
grep -q "unsupported manifest schema version 2 (this build reads version 1)" v2.err || fail "schema version 2: $(cat v2.err)"

if [ $FAILS -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo PASS
