#!/bin/bash
# run_ckpt_bench.sh [BUILD_DIR] [DIR] [REPS]: job checkpoint and restart
# timing (issue 10, item 7), with the baselines measured in the same run.
# DIR (default BUILD_DIR/bench-ckpt-tmp) receives the images and dd's file
# and is emptied at the end; REPS (default 5) repetitions of each figure,
# medians reported.  Environment: NPS (default "2 4") rank counts, MIB
# (default 256) MiB per rank, PARTS (default "pause ckpt restart").
#
# The workload is ckpt_bench (see ckpt_bench.c): every rank fills MIB MiB
# with pseudo-random words, then waits at numbered gates (rank 0 polling a
# file without MPI calls, the others blocked in MPI_Recv), optionally with
# messages in flight.  The script checkpoints the job while it waits at a
# gate, then opens the gate: no sleeps, no race with the program.
#
# pause    a tiny job (1 MiB per rank), MODE quiet and inflight (50 eager
#          and 2 rendezvous-size messages per rank unreceived at the gate).
#          cr_checkpoint runs on a pseudo-terminal under ptystamp, which
#          timestamps each of its progress lines as it arrives (counted from
#          just before cr_checkpoint starts: the trigger).  Reported:
#          trigger -> "paused N/N" (every rank has answered Quiesce: safe
#          point reached and paused), paused -> stage "writing" (the drain),
#          writing -> "syncing" (every image written), and trigger -> exit 0
#          (committed).  Target: paused within 50 ms (+ the drain).
# ckpt     MIB MiB per rank: cr_checkpoint's command time (trigger to
#          committed: images and folder fsynced, manifest written) against
#          dd if=/dev/zero bs=1M conv=fsync of the same total bytes into the
#          same folder, alternating which goes first.  vs_dd = dd time /
#          checkpoint time (target 0.8 or better at 4 ranks).
# restart  the job checkpointed with --kill at its gate, then restarted
#          REPS times from the same folder with `crmpirun --restart`; the
#          gate file exists, so rank 0's "open" line (its CLOCK_REALTIME
#          stamp) is the first output after the restart; all_resumed is the
#          last rank's "resumed".  Warm: images in the page cache; cold:
#          their pages dropped first (dd iflag=nocache count=0 on each
#          image, nothing else touched).  Baselines in the same rounds:
#          plain mpirun and crmpirun starting the same program, to its first
#          output (after MPI_Init) and to the same "open" line from scratch
#          (memory filled again); a cold read of the images (cat); faulting
#          in as much fresh memory (bench/libcr's bench_populate, if built).
#          Target: restart <= 1 s + image bytes / (1 GiB/s).
set -eu
build=$(cd "${1:-$(dirname "$0")/../../build}" && pwd)
dir=${2:-$build/bench-ckpt-tmp}
reps=${3:-5}
nps=${NPS:-"2 4"}
mib=${MIB:-256}
parts=${PARTS:-"pause ckpt restart"}
bin=$build/bin
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for f in crmpirun cr_checkpoint ckpt_bench ptystamp; do
  [ -x "$bin/$f" ] || { echo "no $bin/$f: build first" >&2; exit 2; }
done
mkdir -p "$dir"
W=$(mktemp -d "$(cd "$dir" && pwd)/ckpt-bench.XXXXXX")
job=""
cleanup() {
  [ -n "$job" ] && kill -KILL "$job" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT

t() { date +%s.%N; }
fail() { echo "FAILED: $*" >&2; for f in "$W"/*.err; do [ -s "$f" ] && { echo "== $f" >&2; tail -5 "$f" >&2; }; done; exit 1; }
wait_for() {  # FILE PATTERN: until FILE has a line matching PATTERN (120 s)
  for _ in $(seq 2400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "no '$2' in $1 after 120 s"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
gibs() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0.001) printf "%.3f", b / 1073741824 / s; else printf "-" }'; }
# start_job NP MIB MODE GATES: crmpirun in the background; output in $W/job.out
start_job() {
  rm -f "$W"/go*
  "$bin/crmpirun" -np "$1" --oversubscribe "$bin/ckpt_bench" "$2" "$3" "$4" "$W/go" >"$W/job.out" 2>"$W/job.err" &
  job=$!
}
end_job() {  # NP GATES: the job must end 0 with every rank's memory checked
  wait "$job" || fail "job exited $?"
  job=""
  [ "$(grep -c '^memory .* ok' "$W/job.out")" = $(($1 * $2)) ] || fail "memory checks missing"
}
# stamp FILE: stage times (s) of one ptystamp'ed cr_checkpoint:
# "paused writing syncing exit bytes" (- where a stage was not seen)
stamps() {
  awk -v n="$2" '
    $1 == "exit" { ex = $2; rc = $3; next }
    $0 ~ "paused " n "/" n && p == "" { p = $1 }
    / (writing|syncing|committed):/ && w == "" { w = $1 }
    / (syncing|committed):/ && s == "" { s = $1 }
    /checkpointed \(epoch/ { match($0, /[0-9]+ bytes/); b = substr($0, RSTART, RLENGTH - 6) }
    END { if (rc != 0) print "FAIL"; else print (p == "" ? "-" : p), (w == "" ? "-" : w), (s == "" ? "-" : s), ex, b }' "$1"
}
checkpoint() {  # NP OUTDIR [cr_checkpoint options]: -> stage times on stdout
  local np=$1 out=$2
  shift 2
  "$bin/ptystamp" "$bin/cr_checkpoint" -f "$out" "$@" "$job" >"$W/stamp" 2>&1 || true
  local s
  s=$(stamps "$W/stamp" "$np")
  [ "$s" != FAIL ] || { cat "$W/stamp" >&2; fail "cr_checkpoint"; }
  echo "$s"
}
col() { awk -v c="$1" '{ print $c }' "$2" | grep -v '^-$' | median; }

echo "crmpi job checkpoint benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r), folder $dir ($(df -T "$dir" | awk 'NR == 2 { print $2 }'))"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); reps $reps; medians"

if [[ " $parts " == *" pause "* ]]; then
  echo
  echo "== trigger to paused (1 MiB per rank; seconds from cr_checkpoint's start)"
  printf "%-3s %-9s %9s %9s %9s %9s\n" np mode paused drain write total
  for np in $nps; do
    for mode in quiet inflight; do
      start_job "$np" 1 "$mode" "$reps"
      : >"$W/pause.txt"
      for g in $(seq "$reps"); do
        wait_for "$W/job.out" "^GATE $g\$"
        checkpoint "$np" "$W/p$g" >>"$W/pause.txt"
        rm -rf "$W/p$g"
        touch "$W/go$g"
      done
      end_job "$np" "$reps"
      # paused; drain = writing - paused; write = syncing - writing; commit = exit
      awk '{ print $1, ($2 == "-" ? "-" : $2 - $1), ($3 == "-" ? "-" : $3 - $2), $4 }' "$W/pause.txt" >"$W/pause.d"
      printf "%-3s %-9s %9.4f %9.4f %9.4f %9.4f\n" "$np" "$mode" \
        "$(col 1 "$W/pause.d")" "$(col 2 "$W/pause.d")" "$(col 3 "$W/pause.d")" "$(col 4 "$W/pause.d")"
      sed "s/^/  raw $np $mode: /" "$W/pause.d" >>"$W/raw"
    done
  done
fi

if [[ " $parts " == *" ckpt "* ]]; then
  echo
  echo "== checkpoint of $mib MiB per rank vs dd conv=fsync of the same bytes (seconds)"
  printf "%-3s %12s %8s %9s %8s %9s %7s | %7s %7s %7s %7s\n" np bytes ckpt_s ckpt_GiBs dd_s dd_GiBs vs_dd paused drain write link
  for np in $nps; do
    start_job "$np" "$mib" quiet "$reps"
    : >"$W/ck.txt"
    for g in $(seq "$reps"); do
      wait_for "$W/job.out" "^GATE $g\$"
      dd_run() {
        sync
        local a b
        a=$(t); dd if=/dev/zero of="$W/dd.tmp" bs=1M count=$((np * mib)) conv=fsync status=none; b=$(t)
        rm -f "$W/dd.tmp"
        calc "$b - $a"
      }
      if [ $((g % 2)) = 1 ]; then d=$(dd_run); sync; c=$(checkpoint "$np" "$W/c$g"); else sync; c=$(checkpoint "$np" "$W/c$g"); d=$(dd_run); fi
      echo "$c $d" >>"$W/ck.txt"
      rm -rf "$W/c$g"
      touch "$W/go$g"
    done
    end_job "$np" "$reps"
    # columns: paused writing syncing exit bytes dd
    awk '{ print $4, $6, $6 / $4, $1, $2 - $1, $3 - $2, $4 - $3, $5 }' "$W/ck.txt" >"$W/ck.d"
    bytes=$(col 8 "$W/ck.d")
    ck=$(col 1 "$W/ck.d"); dd_s=$(col 2 "$W/ck.d")
    printf "%-3s %12.0f %8.3f %9.3f %8.3f %9.3f %7.2f | %7.3f %7.3f %7.3f %7.3f\n" "$np" "$bytes" "$ck" \
      "$(calc "$bytes / 1073741824 / $ck")" "$dd_s" "$(calc "$np * $mib / 1024 / $dd_s")" \
      "$(col 3 "$W/ck.d")" "$(col 4 "$W/ck.d")" "$(col 5 "$W/ck.d")" "$(col 6 "$W/ck.d")" "$(col 7 "$W/ck.d")"
    sed "s/^/  raw ckpt $np (ckpt dd vs_dd paused drain write sync bytes): /" "$W/ck.d" >>"$W/raw"
  done
  echo "(vs_dd: median of the per-repetition ratios dd_s / ckpt_s; stages, median seconds: paused = trigger
 to all paused, drain, write = every image written and fsynced, link = images named, folder fsynced,
 manifest written, committed)"
fi

if [[ " $parts " == *" restart "* ]]; then
  echo
  echo "== restart of $mib MiB per rank: command to first output (seconds)"
  printf "%-3s %12s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %8s %8s\n" np bytes mpirun_1st mpirun_gate crmpi_1st crmpi_gate warm_rst warm_all cold_rst cold_all read_GiBs readp_GiBs populate target
  for np in $nps; do
    start_job "$np" "$mib" quiet 1
    wait_for "$W/job.out" "^GATE 1\$"
    c=$(checkpoint "$np" "$W/r" --kill)
    wait "$job" 2>/dev/null || true
    job=""
    touch "$W/go1"
    bytes=$(echo "$c" | awk '{ print $5 }')
    imgs=$(find "$W/r" -type f ! -name '*.json')
    : >"$W/rs.txt"
    first() { awk -v a="$2" '$1 == "start" { print $2 - a; exit }' "$1"; }
    open() { awk -v a="$2" '$1 == "open" { print $3 - a; exit }' "$1"; }
    allres() { awk -v a="$2" '$1 == "open" { m = $3 } $1 == "resumed" && $4 > m { m = $4 } END { print m - a }' "$1"; }
    drop() { for f in $imgs; do dd if="$f" iflag=nocache count=0 status=none; done; }
    for _ in $(seq "$reps"); do
      a=$(t); mpirun -np "$np" --oversubscribe "$bin/ckpt_bench" "$mib" quiet 1 "$W/go" >"$W/n.out" 2>"$W/n.err" || fail "mpirun"
      n1=$(first "$W/n.out" "$a"); ng=$(open "$W/n.out" "$a")
      a=$(t); "$bin/crmpirun" -np "$np" --oversubscribe "$bin/ckpt_bench" "$mib" quiet 1 "$W/go" >"$W/c.out" 2>"$W/c.err" || fail "crmpirun"
      c1=$(first "$W/c.out" "$a"); cg=$(open "$W/c.out" "$a")
      a=$(t); "$bin/crmpirun" --restart "$W/r" >"$W/w.out" 2>"$W/w.err" || fail "warm restart"
      [ "$(grep -c '^memory .* ok' "$W/w.out")" = "$np" ] || fail "warm restart: memory checks missing"
      w1=$(open "$W/w.out" "$a"); wa=$(allres "$W/w.out" "$a")
      drop
      a=$(t); "$bin/crmpirun" --restart "$W/r" >"$W/k.out" 2>"$W/k.err" || fail "cold restart"
      [ "$(grep -c '^memory .* ok' "$W/k.out")" = "$np" ] || fail "cold restart: memory checks missing"
      k1=$(open "$W/k.out" "$a"); ka=$(allres "$W/k.out" "$a")
      drop
      a=$(t); cat $imgs >/dev/null; b=$(t)
      rd=$(calc "$bytes / 1073741824 / ($b - $a)")
      drop
      a=$(t); for f in $imgs; do cat "$f" >/dev/null & done; wait; b=$(t)
      rp=$(calc "$bytes / 1073741824 / ($b - $a)")
      pop=$([ -x "$bin/bench_populate" ] && "$bin/bench_populate" $((np * mib)) || echo -)
      echo "$n1 $ng $c1 $cg $w1 $wa $k1 $ka $rd $pop $rp" >>"$W/rs.txt"
    done
    rm -rf "$W/r"
    printf "%-3s %12s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %8s %8.3f\n" "$np" "$bytes" \
      "$(col 1 "$W/rs.txt")" "$(col 2 "$W/rs.txt")" "$(col 3 "$W/rs.txt")" "$(col 4 "$W/rs.txt")" \
      "$(col 5 "$W/rs.txt")" "$(col 6 "$W/rs.txt")" "$(col 7 "$W/rs.txt")" "$(col 8 "$W/rs.txt")" \
      "$(col 9 "$W/rs.txt")" "$(col 11 "$W/rs.txt")" "$(col 10 "$W/rs.txt")" "$(calc "1 + $bytes / 1073741824")"
    w=$(col 5 "$W/rs.txt"); k=$(col 7 "$W/rs.txt")
    c1=$(col 3 "$W/rs.txt")
    echo "    np $np: image bytes / restart time: warm $(calc "$bytes / 1073741824 / $w") GiB/s, cold $(calc "$bytes / 1073741824 / $k") GiB/s;" \
      "beyond crmpirun's own start-up (restart - crmpi_1st): warm $(gibs "$bytes" "$(calc "$w - $c1")") GiB/s, cold $(gibs "$bytes" "$(calc "$k - $c1")") GiB/s;" \
      "restart / mpirun start-up: warm $(calc "$w / $(col 1 "$W/rs.txt")"), cold $(calc "$k / $(col 1 "$W/rs.txt")")"
    sed "s/^/  raw restart $np (mpirun_1st mpirun_gate crmpi_1st crmpi_gate warm warm_all cold cold_all read_GiBs populate readp_GiBs): /" "$W/rs.txt" >>"$W/raw"
  done
  echo "(read_GiBs: cold read of the images (cat, one after the other), their page cache dropped; readp_GiBs:"
  echo " the same, every image at once (one cat each): what a disk with a deep queue gives; populate: seconds to fault in"
  echo " NP x MIB MiB of fresh memory in one process (bench_populate), the floor under loading the images;"
  echo " target: 1 s + bytes at 1 GiB/s)"
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "raw figures:"
cat "$W/raw" 2>/dev/null || true
