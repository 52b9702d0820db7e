#!/bin/bash
# ckpt_faults.sh BIN SCENARIO -- fault cases of a job checkpoint (issue 10,
# item 6), one scenario per invocation.  BIN: the build's bin folder.
#
# Every scenario runs mt_ckpt_moments (eager, 2 ranks, 3 gates), takes one
# good checkpoint at gate 1 into its own folder ("good"), makes the fault at
# gate 2, and asserts:
#   * the failing tool exits non-zero with a one-line message naming the
#     problem (the rank, the file);
#   * the job is unharmed unless the fault is the loss of a rank: it
#     finishes with the output of an uninterrupted run;
#   * nothing that looks like a complete checkpoint (a manifest) is left
#     by the failed attempt;
#   * the previous checkpoint ("good") still restarts, with the output of
#     an uninterrupted run.
#
# Scenarios:
#   rank_killed   a rank's application SIGKILLed during a checkpoint
#                 (the rank is stopped first, so that the checkpoint is
#                 surely still running when it dies): the checkpoint is
#                 abandoned naming the rank; the job ends, non-zero
#   full_disk     checkpoint into a 64 KiB tmpfs (a private mount
#                 namespace; exit 77 if that is impossible): abandoned,
#                 "No space left on device", the job goes on, a later
#                 checkpoint works
#   bad_image     a flipped byte in an image's page data, a flipped byte in
#                 its header, a truncated image: `crmpirun --restart`
#                 refuses, naming the rank and the file, before mpirun runs
#   bad_manifest  a manifest with broken JSON, with a wrong digest,
#                 truncated, empty: refused naming the manifest, before
#                 mpirun runs
#   wrong_np      `crmpirun -np 3 --restart` (and -np 1) of a 2-rank
#                 checkpoint: refused before mpirun runs
#   ckpt_killed   cr_checkpoint SIGKILLed while its checkpoint runs (a rank
#                 stopped to hold it): abandoned, its folder removed, the
#                 job goes on; a later checkpoint --kill + restart works
#   second_ckpt   a second cr_checkpoint while one runs: "already in
#                 progress", non-zero; the first commits and restarts
#
# No sleeps against markers: the script waits (bounded) for the program's
# "GATE k" lines, for folders to appear or vanish, and for processes to end.
set -u
bin=$1 scenario=$2
np=2 moment=eager gates=3

# full_disk needs its own mount namespace (root): re-run this script in one.
if [ "$scenario" = full_disk ] && [ -z "${CRMPI_FAULTS_NS:-}" ]; then
  if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
    echo "SKIP: full_disk needs root and unshare -m (a private mount namespace)"
    exit 77
  fi
  CRMPI_FAULTS_NS=1 exec unshare -m --propagation private -- "$0" "$@"
fi

T=$(mktemp -d /tmp/crmpi-faults.XXXXXX)
pids=()  # every crmpirun / cr_checkpoint started in the background
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
  # Whatever is left of our jobs: processes naming this test's own folder.
  for p in $(pgrep -f "$T/go" 2>/dev/null); do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  mountpoint -q "$T/small" 2>/dev/null && umount "$T/small"
  rm -rf "$T"
}
trap cleanup EXIT
run=("$bin/crmpirun" -np "$np" --oversubscribe)
prog=("$bin/mt_ckpt_moments" "$moment" "$gates" "$T/go")

fail() {
  echo "FAILED: $scenario: $*"
  if [ -n "${job:-}" ] && kill -0 "$job" 2>/dev/null; then  # where the job's processes are
    for p in $(descendants "$job"); do
      echo "  $p $(cat /proc/"$p"/comm 2>/dev/null) state $(awk '{print $3}' /proc/"$p"/stat 2>/dev/null) wchan $(cat /proc/"$p"/wchan 2>/dev/null)"
    done
  fi
  for f in "$T"/*.out "$T"/*.err; do [ -s "$f" ] && { echo "== $f"; tail -15 "$f"; }; done
  exit 1
}
# wait_for FILE PATTERN: until FILE has a line matching PATTERN (60 s at most)
wait_for() {
  for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "no '$2' in $1 after 60 s"
}
wait_dir() {  # until DIR exists
  for _ in $(seq 1200); do [ -d "$1" ] && return 0; sleep 0.05; done
  fail "$1 never appeared"
}
wait_gone() {  # until PATH no longer exists
  for _ in $(seq 600); do [ -e "$1" ] || return 0; sleep 0.05; done
  fail "$1 still exists after 30 s"
}
# finish PID SECONDS: wait for a background process (at most SECONDS); its
# exit status in $rc.
finish() {
  for _ in $(seq $(($2 * 20))); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$1" 2>/dev/null && fail "process $1 still runs after $2 s"
  { wait "$1"; } 2>/dev/null
  rc=$?
}
lines() { grep -hv '^GATE' "$@" | sort; }
same_as_ref() { [ "$(lines "$T/ref.out")" = "$(lines "$@")" ]; }
# message FILE REGEX WHAT: the failing tool said, on one line, what went wrong
message() {
  local m
  m=$(grep -E -m1 "$2" "$1") || fail "no message matching '$2' ($3) in $1"
  echo "$scenario: $3: $m"
}
# no_checkpoint DIR: nothing there looks like a complete checkpoint
no_checkpoint() {
  [ -e "$1/job.manifest.json" ] && fail "a manifest was left in $1 by a failed checkpoint"
  "$bin/cr_info" "$1" >"$T/info.bad.out" 2>&1 && fail "cr_info accepts the failed checkpoint $1"
  return 0
}
# app_pid RANK: the application process of RANK in the current job (under
# crmpirun: mpirun, cr_agent, then the app, whose environment names its rank)
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
app_pid() {
  local p
  for p in $(descendants "$job"); do
    [ "$(cat /proc/"$p"/comm 2>/dev/null)" = mt_ckpt_moments ] || continue
    tr '\0' '\n' </proc/"$p"/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && { echo "$p"; return 0; }
  done
  fail "no application process of rank $1 under crmpirun $job"
}
# checkpoint DIR [cr_checkpoint options]: must commit
checkpoint() {
  local dir=$1
  shift
  timeout -k 5 60 "$bin/cr_checkpoint" --timeout 40 -f "$dir" "$@" "$job" >"$T/ck.$(basename "$dir").out" 2>&1 ||
    fail "cr_checkpoint -f $dir exited $?"
  [ -f "$dir/job.manifest.json" ] || fail "no manifest in $dir"
  "$bin/cr_info" "$dir" >"$T/info.$(basename "$dir").out" 2>&1 || fail "cr_info rejects $dir"
}
start_job() {  # NAME: a fresh job, output in $T/NAME.out
  "${run[@]}" "${prog[@]}" >"$T/$1.out" 2>"$T/$1.err" &
  job=$!
  pids+=("$job")
}
open_gates() { local g; for g in "$@"; do touch "$T/go$g"; done; }
# end_job NAME: open every gate; the job must finish with the reference output
end_job() {
  open_gates $(seq "$gates")
  finish "$job" 60
  [ "$rc" = 0 ] || fail "the job exited $rc after the fault"
  same_as_ref "$T/$1.out" || fail "the job's output differs from an uninterrupted run's"
  echo "$scenario: the job finished unharmed, output identical"
}
# restart_ok DIR NAME [EXCLUDE]: `crmpirun --restart DIR` runs to the end;
# its output equals the reference's (without lines matching EXCLUDE: those
# printed before the checkpoint)
restart_ok() {
  open_gates $(seq "$gates")
  timeout -k 5 60 "$bin/crmpirun" --restart "$1" >"$T/$2.out" 2>"$T/$2.err" ||
    fail "crmpirun --restart $1 exited $?"
  local want
  want=$(lines "$T/ref.out" | grep -v "${3:-^\$}")
  [ "$want" = "$(lines "$T/$2.out")" ] || fail "the restart of $1 gives other output"
  echo "$scenario: restart of $(basename "$1") ok, output identical"
}
# refused NAME REGEX WHAT ARGS...: `crmpirun ARGS` must fail at once with a
# message matching REGEX, and never start mpirun (a spy stands in for it)
refused() {
  local name=$1 re=$2 what=$3
  shift 3
  rm -f "$T/mpirun-ran"
  CRMPI_MPIRUN="$T/mpirun-spy" timeout -k 5 30 "$bin/crmpirun" "$@" >"$T/$name.out" 2>"$T/$name.err"
  rc=$?
  [ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "crmpirun $* exited $rc ($what)"
  [ -e "$T/mpirun-ran" ] && fail "crmpirun $* started mpirun ($what)"
  [ "$(wc -l <"$T/$name.err")" -le 2 ] || fail "crmpirun $* said more than a line or two ($what)"
  message "$T/$name.err" "$re" "$what"
}
printf '#!/bin/sh\ntouch "%s/mpirun-ran"\nexit 99\n' "$T" >"$T/mpirun-spy"
chmod +x "$T/mpirun-spy"
flip() {  # FILE OFFSET: invert one byte
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $((b ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# The reference: an uninterrupted run.
open_gates $(seq "$gates")
timeout -k 5 60 "${run[@]}" "${prog[@]}" >"$T/ref.out" 2>"$T/ref.err" || fail "reference run exited $?"
rm -f "$T"/go*

# The job and its good checkpoint at gate 1.
start_job job
wait_for "$T/job.out" "^GATE 1"
checkpoint "$T/good"
open_gates 1
wait_for "$T/job.out" "^GATE 2"

case "$scenario" in
rank_killed)
  victim=$(app_pid 1)
  kill -STOP "$victim"  # rank 1 cannot reach its capture: the checkpoint waits
  "$bin/cr_checkpoint" -f "$T/bad" "$job" >"$T/ck.bad.out" 2>&1 &
  ck=$!
  pids+=("$ck")
  wait_dir "$T/bad"
  kill -KILL "$victim"
  finish "$ck" 30
  [ "$rc" != 0 ] || fail "cr_checkpoint exited 0 although rank 1 died during the checkpoint"
  message "$T/ck.bad.out" "^cr_checkpoint: .*rank 1" "cr_checkpoint (exit $rc)"
  finish "$job" 30
  [ "$rc" != 0 ] || fail "crmpirun exited 0 although rank 1 was killed"
  message "$T/job.err" "rank 1" "crmpirun (exit $rc)"
  # No process of the job outlives it (orphans are reparented away from
  # us: look for this test's own folder in every command line).
  for _ in $(seq 100); do pgrep -f "$T/go" >/dev/null || break; sleep 0.05; done
  pgrep -f "$T/go" >/dev/null && fail "processes of the job outlive it: $(pgrep -af "$T/go")"
  no_checkpoint "$T/bad"
  ;;
full_disk)
  mkdir "$T/small"
  mount -t tmpfs -o size=64k,mode=0700 crmpi-faults "$T/small" ||
    { echo "SKIP: cannot mount a tmpfs"; exit 77; }
  timeout -k 5 60 "$bin/cr_checkpoint" -f "$T/small/ck" "$job" >"$T/ck.bad.out" 2>&1
  rc=$?
  [ "$rc" != 0 ] || fail "cr_checkpoint exited 0 into a full tmpfs"
  message "$T/ck.bad.out" "^cr_checkpoint: .*rank [0-9].*(No space left on device|ENOSPC)" "cr_checkpoint (exit $rc)"
  no_checkpoint "$T/small/ck"
  wait_gone "$T/small/ck"  # the folder it made is removed again
  [ -z "$(ls -A "$T/small")" ] || fail "the failed checkpoint left files in the tmpfs: $(ls -A "$T/small")"
  open_gates 2
  wait_for "$T/job.out" "^GATE 3"
  checkpoint "$T/later"  # the job can still be checkpointed
  echo "$scenario: a later checkpoint committed"
  end_job job
  restart_ok "$T/later" later "gate [12] "
  ;;
bad_image)
  end_job job
  img=$(cd "$T/good" && ls rank.1.*.img)
  size=$(stat -c %s "$T/good/$img")
  cp -a "$T/good" "$T/flip_pages" && flip "$T/flip_pages/$img" $((size / 2))
  refused flip_pages "rank 1.*$img" "a flipped byte in page data" --restart "$T/flip_pages"
  cp -a "$T/good" "$T/flip_header" && flip "$T/flip_header/$img" 20
  refused flip_header "rank 1.*$img" "a flipped byte in the file header" --restart "$T/flip_header"
  cp -a "$T/good" "$T/short" && truncate -s $((size / 3)) "$T/short/$img"
  refused short "rank 1.*$img.*truncated" "a truncated image" --restart "$T/short"
  cp -a "$T/good" "$T/gone" && rm "$T/gone/$img"
  refused gone "rank 1.*$img.*missing" "a missing image" --restart "$T/gone"
  ;;
bad_manifest)
  end_job job
  mf=job.manifest.json
  cp -a "$T/good" "$T/syntax" && sed -i '0,/:/s//;/' "$T/syntax/$mf"
  refused syntax "$mf" "broken JSON" --restart "$T/syntax"
  # rank 1's digest changed (its first hex digit): a consistent JSON that lies
  cp -a "$T/good" "$T/digest"
  python3 - "$T/digest/$mf" <<'EOF' || fail "cannot edit the manifest's digest"
import json, sys
p = sys.argv[1]
m = json.load(open(p))
r = [x for x in m["ranks"] if x["rank"] == 1][0]
d = r["digest"]
r["digest"] = ("1" if d[0] != "1" else "2") + d[1:]
open(p, "w").write(json.dumps(m, indent=2))
EOF
  refused digest "rank 1.*digest" "rank 1's digest changed in the manifest" --restart "$T/digest"
  cp -a "$T/good" "$T/half" && truncate -s $(($(stat -c %s "$T/good/$mf") / 2)) "$T/half/$mf"
  refused half "$mf" "a truncated manifest" --restart "$T/half"
  cp -a "$T/good" "$T/empty" && : >"$T/empty/$mf"
  refused empty "$mf" "an empty manifest" --restart "$T/empty"
  cp -a "$T/good" "$T/nomf" && rm "$T/nomf/$mf"
  refused nomf "no $mf in .*not a complete checkpoint" "no manifest" --restart "$T/nomf"
  ;;
wrong_np)
  end_job job
  refused np3 "2 ranks.*3" "-np 3 for a 2-rank checkpoint" -np 3 --restart "$T/good"
  refused np1 "2 ranks.*1" "-n 1 for a 2-rank checkpoint" -n 1 --restart "$T/good"
  ;;
ckpt_killed)
  held=$(app_pid 1)
  kill -STOP "$held"  # holds the checkpoint in its pause stage
  "$bin/cr_checkpoint" -f "$T/bad" "$job" >"$T/ck.bad.out" 2>&1 &
  ck=$!
  pids+=("$ck")
  wait_dir "$T/bad"
  kill -KILL "$ck"
  finish "$ck" 10
  [ "$rc" = 137 ] || fail "cr_checkpoint exited $rc, not killed"
  kill -CONT "$held"
  wait_gone "$T/bad"  # abandoned: the folder the coordinator made is removed
  message "$T/job.err" "abandoned.*cr_checkpoint" "crmpirun"
  open_gates 2
  wait_for "$T/job.out" "^GATE 3"
  checkpoint "$T/later" --kill
  finish "$job" 30  # killed by the checkpoint (SIGKILL, as under BLCR)
  open_gates 3
  timeout -k 5 60 "$bin/crmpirun" --restart "$T/later" >"$T/after.out" 2>"$T/after.err" ||
    fail "crmpirun --restart of the later checkpoint exited $?"
  same_as_ref "$T/job.out" "$T/after.out" || fail "output across the later kill and restart differs"
  echo "$scenario: a later checkpoint --kill and restart ok, output identical"
  ;;
second_ckpt)
  held=$(app_pid 1)
  kill -STOP "$held"  # holds the first checkpoint
  "$bin/cr_checkpoint" -f "$T/first" "$job" >"$T/ck.first.out" 2>&1 &
  ck=$!
  pids+=("$ck")
  wait_dir "$T/first"
  timeout -k 5 30 "$bin/cr_checkpoint" -f "$T/second" "$job" >"$T/ck.second.out" 2>&1
  rc=$?
  [ "$rc" != 0 ] || fail "the second cr_checkpoint exited 0"
  message "$T/ck.second.out" "^cr_checkpoint: .*already in progress" "second cr_checkpoint (exit $rc)"
  [ -e "$T/second" ] && fail "the refused checkpoint made its folder"
  kill -CONT "$held"
  finish "$ck" 60
  [ "$rc" = 0 ] || fail "the first checkpoint exited $rc after the second was refused"
  [ -f "$T/first/job.manifest.json" ] || fail "the first checkpoint has no manifest"
  "$bin/cr_info" "$T/first" >"$T/info.first.out" 2>&1 || fail "cr_info rejects the first checkpoint"
  echo "$scenario: the first checkpoint committed"
  end_job job
  restart_ok "$T/first" first "gate 1 "
  ;;
*)
  fail "unknown scenario (rank_killed full_disk bad_image bad_manifest wrong_np ckpt_killed second_ckpt)"
  ;;
esac

# In every case the previous checkpoint still restarts.
restart_ok "$T/good" prev
echo "PASS: $scenario"
