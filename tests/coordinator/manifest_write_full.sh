#!/usr/bin/env bash
# manifest_write_full.sh TOOL WORK_DIR -- manifest::write on a full and on a
# read-only file system (a 1 MiB tmpfs, mounted in a private mount
# namespace): it fails with the errno text, leaves no temporary file, and
# the previous manifest stays as it was.  Needs root (CI has it); exits 77
# (skipped) if the tmpfs cannot be mounted.
set -uo pipefail
TOOL=$1 WORK=$2
if [ -z "${MANIFEST_IN_NS:-}" ]; then
  MANIFEST_IN_NS=1 exec unshare -m --propagation private "$0" "$@" ||
    { echo "SKIP: cannot make a mount namespace (not root?)"; exit 77; }
fi
rm -rf "$WORK"; mkdir -p "$WORK/mnt"; cd "$WORK"
mount -t tmpfs -o size=1m,mode=0700 tmpfs mnt || { echo "SKIP: cannot mount a tmpfs"; exit 77; }
trap 'umount "$WORK/mnt" 2>/dev/null' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
leftovers() { ls -A mnt | grep -F '.tmp.' ; }

"$TOOL" sample mnt 2 || fail "cannot write a manifest into an empty tmpfs"
[ "$(stat -c %a mnt/job.manifest.json)" = 600 ] || fail "mode $(stat -c %a mnt/job.manifest.json), not 600"
cp mnt/job.manifest.json before.json
# Fill it up, then write a larger manifest.
dd if=/dev/zero of=mnt/fill bs=4k 2>/dev/null
"$TOOL" sample mnt 64 > /dev/null 2> full.err
rc=$?
cat full.err
[ $rc = 1 ] || fail "full file system: status $rc, expected 1"
grep -q "^manifest_tool: mnt/job.manifest.json: cannot write (temporary file job.manifest.json.tmp.*): No space left on device (the file system holding mnt is full)" full.err ||
  fail "full file system: unclear message: $(cat full.err)"
[ -z "$(leftovers)" ] || fail "full file system: temporary file left: $(leftovers)"
cmp -s before.json mnt/job.manifest.json || fail "full file system: the previous manifest changed"

# Read-only.
rm mnt/fill
mount -o remount,ro mnt || fail "cannot remount read-only"
"$TOOL" sample mnt 3 > /dev/null 2> ro.err
rc=$?
cat ro.err
[ $rc = 1 ] || fail "read-only file system: status $rc, expected 1"
grep -q "^manifest_tool: mnt/job.manifest.json: cannot create .*Read-only file system" ro.err || fail "read-only: unclear message: $(cat ro.err)"
[ -z "$(leftovers)" ] || fail "read-only: temporary file left"
cmp -s before.json mnt/job.manifest.json || fail "read-only: the previous manifest changed"

if [ $FAILS -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo PASS
