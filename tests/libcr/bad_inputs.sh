#!/usr/bin/env bash
# bad_inputs.sh -- every bad input gives a clear message naming the problem,
# a non-zero exit, and no crash; a failed checkpoint leaves the previous
# image intact.
#   bad_inputs.sh BIN_DIR WORK_DIR HEAP_PROG
set -uo pipefail
BIN=$1 WORK=$2 PROG=$3
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null; done
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# The heap program runs until its stop file exists, created when the script
# ends, so none can end before it is checkpointed.
STOPF=$WORK/stop
trap 'touch "$STOPF"' EXIT
started() {  # FILE PID: wait (60 s at most) for step 1, or PID's end
  for _ in $(seq 1200); do
    grep -q "step 1" "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  fail "the program writing $1 did not start"
}

# expect WANT_RC PATTERN -- CMD...: exit status WANT_RC (or any non-zero
# below 128 for "nz") and stderr matching PATTERN.
expect() {
  local want=$1 pat=$2; shift 3
  timeout 60 "$@" > out.txt 2> err.txt < /dev/null
  local rc=$?
  if [ "$want" = nz ]; then
    { [ $rc -ne 0 ] && [ $rc -lt 124 ]; } || { fail "$* -> status $rc (want a clean failure)"; return; }
  else
    [ $rc = "$want" ] || { fail "$* -> status $rc (want $want): $(cat err.txt)"; return; }
  fi
  grep -qiE -- "$pat" err.txt || fail "$* -> message '$(cat err.txt)' does not match /$pat/"
  echo "ok: $* -> $(head -1 err.txt)"
}

# expect_fast PATTERN -- CMD...: exit status 1 within 20 s (no blocking).
expect_fast() {
  local pat=$1; shift 2
  timeout 20 "$@" > out.txt 2> err.txt < /dev/null
  local rc=$?
  [ $rc = 1 ] || { fail "$* -> status $rc (want 1; 124 = it blocked)"; return; }
  grep -qiE -- "$pat" err.txt || fail "$* -> message '$(cat err.txt)' does not match /$pat/"
  echo "ok: $* -> $(head -1 err.txt)"
}

# A good image to damage.
"$BIN/cr_run" "$PROG" 0 50 "$STOPF" > run.out 2>&1 &
APP=$!
started run.out $APP
"$BIN/cr_checkpoint" -q -f good.img $APP || fail "cannot make the good image"
kill -9 $APP 2>/dev/null; wait $APP 2>/dev/null
SIZE=$(stat -c %s good.img)
"$BIN/cr_info" good.img > /dev/null || fail "cr_info rejects the good image"

damaged() {  # NAME PATTERN: cr_restart and cr_info must both refuse NAME
  expect 1 "$1.*$2" -- "$BIN/cr_restart" "$1"
  expect 1 "$1.*$2" -- "$BIN/cr_info" "$1"
}

cp good.img trunc-half.img && truncate -s $((SIZE / 2)) trunc-half.img && damaged trunc-half.img "truncated"
cp good.img trunc-header.img && truncate -s 30 trunc-header.img && damaged trunc-header.img "truncated"
cp good.img trunc-end.img && truncate -s $((SIZE - 1)) trunc-end.img && damaged trunc-end.img "truncated|corrupt"
: > empty.img && damaged empty.img "truncated"
for off in 20 70 100 $((SIZE / 3)) $((SIZE / 2)) $((SIZE - 20)); do
  cp good.img flip-$off.img
  b=$(od -An -tu1 -j $off -N1 flip-$off.img | tr -d ' ')
  printf "$(printf '\\%03o' $(( (b ^ 0x5a) & 255 )))" | dd of=flip-$off.img bs=1 seek=$off conv=notrunc status=none
  damaged flip-$off.img "corrupt|checksum|truncated"
done
# Damage that keeps every checksum valid (issue 8): cr_restart refuses it
# before starting anything, and cr_info refuses it too, for the same reason.
same_reason() {  # NAME: both tools print the same message
  timeout 60 "$BIN/cr_restart" "$1" > /dev/null 2> restart.err < /dev/null
  timeout 60 "$BIN/cr_info" "$1" > /dev/null 2> info.err < /dev/null
  [ "$(sed 's/^cr_restart: //' restart.err)" = "$(sed 's/^cr_info: //' info.err)" ] ||
    fail "$1: cr_restart says '$(cat restart.err)', cr_info says '$(cat info.err)'"
}
for kind in end-total drop-signals saved-pages; do
  "$BIN/crimg_tool" corrupt good.img $kind.img $kind || fail "cannot make $kind.img"
done
damaged end-total.img "section [0-9]+ \(END\): counts [0-9]+ pages, the PAGES sections hold"
damaged drop-signals.img "section 2 at offset [0-9]+ is FDS where SIGNALS was expected"
damaged saved-pages.img "section [0-9]+ \(REGIONS\): region [0-9]+ .* saved pages, the PAGES sections hold"
for kind in end-total drop-signals saved-pages; do same_reason $kind.img; done
cp good.img magic.img && printf 'X' | dd of=magic.img bs=1 seek=0 conv=notrunc status=none && damaged magic.img "bad magic"
cp good.img version.img && printf '\x63' | dd of=version.img bs=1 seek=8 conv=notrunc status=none && damaged version.img "unsupported image version 99"
expect 1 "missing.img.*(No such file|cannot open)" -- "$BIN/cr_restart" missing.img
expect 1 "missing.img.*(No such file|cannot open)" -- "$BIN/cr_info" missing.img
# A folder is taken for a job checkpoint (cr_restart DIR = crmpirun --restart
# DIR): one without a manifest is refused, naming it.
mkdir -p adir && expect 1 "no job.manifest.json in adir: not a complete checkpoint" -- "$BIN/cr_restart" adir
expect 2 "usage" -- "$BIN/cr_restart"
expect 2 "unknown option" -- "$BIN/cr_restart" --bogus good.img

# The environment changed since the checkpoint: a mapped file (the
# program itself) was modified, or an open file was deleted.
cp "$PROG" ./prog-copy
"$BIN/cr_run" ./prog-copy 0 50 "$STOPF" > run4.out 2>&1 &
APP=$!
started run4.out $APP
"$BIN/cr_checkpoint" -q --kill -f changed.img $APP || fail "cannot checkpoint prog-copy"
wait $APP 2>/dev/null
"$BIN/cr_info" changed.img > /dev/null || fail "changed.img is not valid"
# A FIFO where the mapped file was: refused at once, never opened (an open
# would wait for a writer for ever).
mv prog-copy prog-copy.real && mkfifo prog-copy
expect_fast "changed.img.*mapped file .*prog-copy is a FIFO now; the checkpoint recorded a regular file" -- "$BIN/cr_restart" changed.img
rm prog-copy && mv prog-copy.real prog-copy
echo "appended" >> prog-copy
expect 1 "changed.img.*prog-copy has changed since the checkpoint" -- "$BIN/cr_restart" changed.img
rm -f prog-copy
expect 1 "changed.img.*prog-copy is missing" -- "$BIN/cr_restart" changed.img
echo data > opened.txt
( exec 7< opened.txt; exec "$BIN/cr_run" "$PROG" 0 50 "$STOPF" ) > run5.out 2>&1 &
APP=$!
started run5.out $APP
"$BIN/cr_checkpoint" -q --kill -f opened.img $APP || fail "cannot checkpoint with an open file"
wait $APP 2>/dev/null
rm -f opened.txt
expect 1 "opened.img.*opened.txt \(fd 7\) is missing" -- "$BIN/cr_restart" opened.img
# A FIFO where the open file was: cr_restart used to block in open() here.
mkfifo opened.txt
expect_fast "opened.img.*opened.txt \(fd 7\) is a FIFO now; the checkpoint recorded a regular file" -- "$BIN/cr_restart" opened.img
rm -f opened.txt
# ... and where the image itself is expected.
mkfifo fifo.img
expect_fast "fifo.img.*not a regular file" -- "$BIN/cr_restart" fifo.img
expect_fast "fifo.img.*not a regular file" -- "$BIN/cr_info" fifo.img

# cr_checkpoint: bad PIDs and arguments.
expect 1 "no process 4194000" -- "$BIN/cr_checkpoint" 4194000
sleep 300 & PLAIN=$!
expect 1 "not checkpointable.*cr_run" -- "$BIN/cr_checkpoint" -f plain.img $PLAIN
kill $PLAIN; wait $PLAIN 2>/dev/null
[ ! -e plain.img ] || fail "a failed checkpoint left plain.img"
expect 2 "bad PID" -- "$BIN/cr_checkpoint" abc
expect 2 "bad timeout" -- "$BIN/cr_checkpoint" --timeout x 1
expect 2 "usage" -- "$BIN/cr_checkpoint"

# A failed checkpoint never damages the previous image.
cp good.img keep.img
expect 1 "no process" -- "$BIN/cr_checkpoint" -f keep.img 4194000
sleep 300 & PLAIN=$!
expect 1 "not checkpointable" -- "$BIN/cr_checkpoint" -f keep.img $PLAIN
kill $PLAIN; wait $PLAIN 2>/dev/null
cmp -s good.img keep.img || fail "keep.img was changed by a failed checkpoint"
ls keep.img.tmp.* > /dev/null 2>&1 && fail "temporary files left behind"
# Unwritable destination folder.
"$BIN/cr_run" "$PROG" 0 50 "$STOPF" > run2.out 2>&1 &
APP=$!
started run2.out $APP
expect 1 "nonexistent-dir" -- "$BIN/cr_checkpoint" -f nonexistent-dir/x.img $APP
kill -0 $APP 2>/dev/null || fail "the process died after a failed checkpoint"
kill -9 $APP; wait $APP 2>/dev/null

# A full disk: the checkpoint fails cleanly, the process goes on, the
# previous image in that folder is untouched.  Needs a small tmpfs (root).
mkdir -p full
if mount -t tmpfs -o size=2m tmpfs full 2>/dev/null; then
  echo "previous image" > full/keep.img
  "$BIN/cr_run" "$PROG" 0 50 "$STOPF" > run3.out 2>&1 &
  APP=$!
  started run3.out $APP
  expect 1 "No space left on device" -- "$BIN/cr_checkpoint" -f full/keep.img $APP
  [ "$(cat full/keep.img)" = "previous image" ] || fail "full disk: the previous image was damaged"
  [ "$(ls full)" = "keep.img" ] || fail "full disk: files left behind: $(ls full)"
  sleep 0.2
  kill -0 $APP 2>/dev/null || fail "full disk: the process died"
  # It goes on: a new line within 60 s (not a bet on a short sleep).
  n1=$(wc -l < run3.out)
  for _ in $(seq 1200); do [ "$(wc -l < run3.out)" -gt "$n1" ] && break; sleep 0.05; done
  [ "$(wc -l < run3.out)" -gt "$n1" ] || fail "full disk: the process stopped making progress"
  kill -9 $APP; wait $APP 2>/dev/null
  umount full
else
  echo "skip: cannot mount a tmpfs to fill (not root)"
fi

if [ $FAILS -ne 0 ]; then echo "$FAILS failure(s)"; exit 1; fi
echo "PASS: bad inputs"
