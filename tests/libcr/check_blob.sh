#!/usr/bin/env bash
# check_blob.sh OBJ -- the restorer blob runs after cr_restart's own code and
# libraries are unmapped, so every relocation in section crblob must point
# to a symbol defined in crblob itself (no libc, no .rodata, no GOT).
set -euo pipefail
OBJ=$1
inside=$(objdump -t "$OBJ" | awk '$0 ~ / crblob\t/ {print $NF}')
bad=0
while read -r off type sym; do
  name=${sym%%[-+]*}
  if ! grep -qx -- "$name" <<< "$inside"; then
    echo "relocation $type to $sym leaves the blob" >&2
    bad=1
  fi
done < <(objdump -r -j crblob "$OBJ" | awk '/^[0-9a-f]+ /')
sections=$(objdump -h "$OBJ" | awk '$2 ~ /^\.(rodata|data|bss)/ && $3 != "00000000" {print $2}')
if [ -n "$sections" ]; then echo "blob object has data sections: $sections" >&2; bad=1; fi
[ $bad = 0 ] && echo "PASS: blob is self-contained ($(echo "$inside" | wc -l) symbols)"
exit $bad
