#!/usr/bin/env bash
# selfckpt_test.sh -- (i) a program checkpoints itself through
# cr_request_checkpoint/cr_poll_checkpoint, continues and finishes; its image
# restarted finishes the same way, the request now reporting the restart.
#   selfckpt_test.sh BIN_DIR WORK_DIR
set -euo pipefail
BIN=$1 WORK=$2
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
die() { echo "FAIL: $*" >&2; exit 1; }
timeout 60 "$BIN/ckpt_selfckpt" self.img > run.out 2> run.err || die "run failed: $(cat run.err)"
grep -q "after checkpoint: continued (cr_is_restarted=0)" run.out || die "no CONTINUE report: $(cat run.out)"
grep -q "library callback: registered 1 continued 1 restarted 0" run.out ||
  die "the callback a library registered from its constructor did not run: $(cat run.out)"
[ -s self.img ] || die "no image written"
"$BIN/cr_info" self.img > info.txt || die "cr_info rejects the image"
# cr_get_checkpoint_info gave the library the digest cr_info computes.
want=$(sed -n 's/^id: .*digest \([0-9a-f]*\)$/\1/p' info.txt)
[ -n "$want" ] && grep -q "image digest $want" run.err ||
  die "cr_get_checkpoint_info's digest ($(cat run.err)) is not cr_info's ($want)"
timeout 60 "$BIN/cr_restart" -q self.img > rst.out 2> rst.err || die "restart failed: $(cat rst.err)"
# Expected: the run's output, with the continuation reported as a restart,
# from the checkpoint on.
sed -n '/^after checkpoint/,$p' run.out | sed 's/continued (cr_is_restarted=0)/restarted (cr_is_restarted=1)/' > want.out
# The library's callback ran once more, as a restart (its counters are from
# the image, where the continue had not been counted yet).
sed -i 's/library callback: registered 1 continued 1 restarted 0/library callback: registered 1 continued 0 restarted 1/' want.out
diff want.out rst.out || die "restarted output differs"
timeout 60 "$BIN/cr_restart" -q self.img > rst2.out 2>&1 || die "second restart failed"
diff want.out rst2.out || die "second restart differs"
# cr_exclude_fd: a memfd kept out of the image is neither saved nor back
# after the restart; an ordinary fd is.  cr_exclude_memory: the middle one
# of three pages is not mapped after the restart; its neighbours are whole.
timeout 60 "$BIN/ckpt_selfckpt" ex.img exclude > ex.out 2> ex.err || die "exclude run failed: $(cat ex.err)"
grep -q "excluded fd open, kept fd open: ok" ex.out || die "exclude: before the restart: $(cat ex.out)"
grep -q "excluded page mapped, its neighbours intact: ok" ex.out || die "exclude memory: before the restart: $(cat ex.out)"
"$BIN/cr_info" ex.img > ex-info.txt || die "cr_info rejects the exclude image"
grep -q "crtest-excluded" ex-info.txt && die "the excluded memfd is in the image"
timeout 60 "$BIN/cr_restart" -q ex.img > ex-rst.out 2> ex-rst.err || die "exclude restart failed: $(cat ex-rst.err)"
grep -q "excluded fd closed, kept fd open: ok" ex-rst.out || die "exclude: after the restart: $(cat ex-rst.out)"
grep -q "excluded page unmapped, its neighbours intact: ok" ex-rst.out ||
  die "exclude memory: after the restart: $(cat ex-rst.out)"
echo "PASS: self-checkpoint"
