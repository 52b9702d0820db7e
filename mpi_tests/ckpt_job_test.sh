#!/bin/bash
# ckpt_job_test.sh BIN MOMENT NP GATES [continue|restart|both|self|keep]
# Job checkpoint of mt_ckpt_moments (BIN: the build's bin folder) at each of
# its gates, where MOMENT puts MPI traffic in flight (see ckpt_moments.c):
#   reference  an uninterrupted run (every gate open from the start)
#   continue   a checkpoint at every gate, the job going on: same output
#   restart    at gate 1 `cr_checkpoint --kill`, `crmpirun --restart`; at
#              gate 2 of the restarted job again, `cr_restart DIR` (a
#              restart of a restart), and so on: the outputs put together
#              equal the reference
#   self       the application asks for a checkpoint at every gate
#   keep       the same under crmpirun --keep 2: after each, only the two
#              newest complete checkpoints are left; the newest restarts
# Each checkpoint must exit 0 and leave a manifest that cr_info accepts.
# No sleeps against markers: the script waits (bounded) for the program's
# "GATE k" line, or for the checkpoint folder that shows the request is in.
set -u
bin=$(cd "$1" && pwd) moment=$2 np=$3 gates=$4 what=${5:-both}
# Only the "self" run asks for checkpoints from inside (its value: "libcr"
# for cr_request_checkpoint, else crmpi_request_checkpoint).
self_request=${CKPT_SELF_REQUEST:-1}
unset CKPT_SELF_REQUEST
T=$(mktemp -d /tmp/crmpi-ckjob.XXXXXX)
trap 'pkill -KILL -f "$T/go" 2>/dev/null; rm -rf "$T"' EXIT
run=("$bin/crmpirun" -np "$np" --oversubscribe)
prog=("$bin/mt_ckpt_moments" "$moment" "$gates" "$T/go")
fail() { echo "FAILED: $*"; for f in "$T"/*.out "$T"/*.err; do [ -s "$f" ] && { echo "== $f"; tail -20 "$f"; }; done; exit 1; }

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (60 s at most)
wait_for() {
  for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "no '$2' in $1 after 60 s"
}
# wait_dir DIR: until DIR exists (the coordinator made it: the request is in)
wait_dir() {
  for _ in $(seq 1200); do [ -d "$1" ] && return 0; sleep 0.05; done
  fail "$1 never appeared"
}
lines() { grep -hv '^GATE' "$@" | sort; }

# checkpoint PID GATE DIR [--kill]: checkpoint while the job waits at GATE.
# For "coll" the gate opens as soon as the request is in: ranks > 0 are
# blocked inside a collective that rank 0 enters only after the gate, and a
# consistent checkpoint needs every rank past it.
checkpoint() {
  local pid=$1 g=$2 dir=$3
  shift 3
  if [ "$moment" = coll ]; then
    "$bin/cr_checkpoint" --timeout 90 -f "$dir" "$@" "$pid" >"$T/ck$g.out" 2>&1 &
    local ck=$!
    wait_dir "$dir"
    touch "$T/go$g"
    wait "$ck" || fail "cr_checkpoint at gate $g (coll) exited $?"
  else
    "$bin/cr_checkpoint" --timeout 90 -f "$dir" "$@" "$pid" >"$T/ck$g.out" 2>&1 ||
      fail "cr_checkpoint at gate $g exited $? ($(cat "$T/ck$g.out"))"
    touch "$T/go$g"
  fi
  [ -f "$dir/job.manifest.json" ] || fail "no manifest in $dir"
  "$bin/cr_info" "$dir" >"$T/info$g.out" 2>&1 || fail "cr_info rejects $dir"
}

# reference
for g in $(seq "$gates"); do touch "$T/go$g"; done
timeout -k 5 60 "${run[@]}" "${prog[@]}" >"$T/ref.out" 2>"$T/ref.err" || fail "reference run exited $?"
rm -f "$T"/go*

# self: the application asks for the checkpoint at every gate
# (crmpi_request_checkpoint); it goes to the job's default folder.
# keep: the same with --keep 2, whose pruning follows each checkpoint.
if [ "$what" = self ] || [ "$what" = keep ]; then
  keep=()
  [ "$what" = keep ] && keep=(--keep 2)
  (cd "$T" && CKPT_SELF_REQUEST=$self_request exec "${run[@]}" "${keep[@]}" "${prog[@]}" >"$T/self.out" 2>"$T/self.err") &
  job=$!
  for g in $(seq "$gates"); do
    wait_for "$T/self.out" "^GATE $g"
    for _ in $(seq 1200); do [ -f "$T/mt_ckpt_moments.ckpt.$g/job.manifest.json" ] && break; sleep 0.05; done
    [ -f "$T/mt_ckpt_moments.ckpt.$g/job.manifest.json" ] || fail "no checkpoint $g after the application asked"
    "$bin/cr_info" "$T/mt_ckpt_moments.ckpt.$g" >/dev/null || fail "cr_info rejects checkpoint $g"
    if [ "$what" = keep ]; then
      # crmpirun prunes right after writing the manifest (bounded wait).
      want=$( ( [ "$g" -gt 1 ] && echo "mt_ckpt_moments.ckpt.$((g - 1))"; echo "mt_ckpt_moments.ckpt.$g") | tr '\n' ' ')
      for _ in $(seq 1200); do
        left=$(cd "$T" && ls -d mt_ckpt_moments.ckpt.* | sort -t. -k3n | tr '\n' ' ')
        [ "$left" = "$want" ] && break
        sleep 0.05
      done
      [ "$left" = "$want" ] || fail "after checkpoint $g with --keep 2: folders '$left', expected '$want'"
    fi
    touch "$T/go$g"
  done
  wait "$job" || fail "the job exited $?"
  [ "$(lines "$T/ref.out")" = "$(lines "$T/self.out")" ] || fail "output differs"
  if [ "$what" = keep ]; then
    timeout -k 5 60 "$bin/crmpirun" --restart "$T/mt_ckpt_moments.ckpt.$gates" >"$T/kept.out" 2>"$T/kept.err" ||
      fail "restart of the newest kept checkpoint exited $?"
    [ -z "$(comm -23 <(lines "$T/kept.out") <(lines "$T/ref.out"))" ] || fail "the restarted job printed other lines"
    echo "keep: $gates checkpoints asked by the application, the 2 newest kept, the newest restarts"
    exit 0
  fi
  echo "self: $gates checkpoints asked by the application, output identical"
  exit 0
fi

# continue: a checkpoint at every gate
if [ "$what" != restart ]; then
"${run[@]}" "${prog[@]}" >"$T/cont.out" 2>"$T/cont.err" &
job=$!
for g in $(seq "$gates"); do
  wait_for "$T/cont.out" "^GATE $g"
  checkpoint "$job" "$g" "$T/c$g"
done
wait "$job" || fail "the checkpointed job exited $?"
[ "$(lines "$T/ref.out")" = "$(lines "$T/cont.out")" ] || fail "output after checkpoint-and-continue differs"
echo "continue: $gates checkpoints, output identical"
rm -f "$T"/go*
fi
[ "$what" = continue ] && exit 0

# restart: kill at gate 1, restart; kill at gate 2 of the restarted job ...
"${run[@]}" "${prog[@]}" >"$T/k1.out" 2>"$T/k1.err" &
job=$!
from=""
for g in $(seq "$gates"); do
  wait_for "$T/k$g.out" "^GATE $g"
  checkpoint "$job" "$g" "$T/k$g" --kill
  { wait "$job"; } 2>/dev/null  # killed by the checkpoint: dies of SIGKILL, as under BLCR
  [ -f "$T/go$g" ] || touch "$T/go$g"
  next=$((g + 1))
  # Both ways of restarting a job: crmpirun --restart, and cr_restart given
  # a checkpoint folder (with an mpirun option before it).
  if [ $((g % 2)) -eq 1 ]; then
    "$bin/crmpirun" --restart "$T/k$g" >"$T/k$next.out" 2>"$T/k$next.err" &
  else
    "$bin/cr_restart" --oversubscribe "$T/k$g" >"$T/k$next.out" 2>"$T/k$next.err" &
  fi
  job=$!
done
wait "$job" || fail "the last restarted job exited $?"
[ "$(lines "$T/ref.out")" = "$(lines "$T"/k*.out)" ] || fail "output across kill and restart differs"
echo "restart: $gates kills and restarts (each from a restarted job), output identical"
