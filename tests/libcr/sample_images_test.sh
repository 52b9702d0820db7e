#!/usr/bin/env bash
# sample_images_test.sh -- every shipped image format version still reads,
# and reads the same: for each tests/libcr/data/NAME.img.hex, cr_info's
# output must equal NAME.info.
#   sample_images_test.sh BIN_DIR WORK_DIR DATA_DIR
# With UPDATE=1 it writes the .info files instead: when a sample is added,
# or when cr_info's own printing changes (review that diff: only the lines
# cr_info added or reworded may change, never a value read from a sample).
set -uo pipefail
BIN=$1 WORK=$2 DATA=$(cd "$3" && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
FAILS=0 N=0
for hex in "$DATA"/*.img.hex; do
  name=$(basename "$hex" .img.hex)
  /usr/bin/python3 -c '
import sys
out = open(sys.argv[2], "wb")
for line in open(sys.argv[1]):
    if not line.startswith("#"): out.write(bytes.fromhex(line.strip()))' "$hex" "$name.img"
  "$BIN/cr_info" "$name.img" > "$name.out" 2>&1
  echo "exit status $?" >> "$name.out"
  if [ "${UPDATE:-0}" = 1 ]; then cp "$name.out" "$DATA/$name.info"; continue; fi
  N=$((N + 1))
  if ! diff -u "$DATA/$name.info" "$name.out"; then
    echo "FAIL: $name: cr_info's output changed (a layout change without a version bump?)"
    FAILS=$((FAILS + 1))
  fi
done
[ $N -gt 0 ] || [ "${UPDATE:-0}" = 1 ] || { echo "FAIL: no sample images in $DATA"; exit 1; }
if [ $FAILS -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo "PASS: $N sample image(s)"
