#!/usr/bin/env bash
# bench_ckpt.sh -- checkpoint and restart speed of libcr against the write
# speed of the same folder, measured in the same run.
#   bench/libcr/bench_ckpt.sh [BUILD_DIR] [DIR] [SIZES_MIB]
# For each size and kind of memory: checkpoint (continue) stored and
# compressed, the pause the application saw, image bytes, and restart from
# the (cached) image.  Baseline: dd of the same size with conv=fsync.
set -euo pipefail
BUILD=$(realpath "${1:-build}")
DIR=${2:-$BUILD/bench-tmp}
SIZES=${3:-"1024 4096"}
BIN=$BUILD/bin
mkdir -p "$DIR"; DIR=$(realpath "$DIR"); cd "$DIR"
t() { date +%s.%N; }
gib() { echo "scale=2; $1 / 1024" | bc; }
rate() { echo "scale=2; $1 / 1024 / $2" | bc; }

printf "%-6s %-15s %-9s %8s %9s %7s %8s %12s %9s %9s | %8s %12s %9s\n" \
  MiB kind mode ckpt_s ckpt_GiBs vs_dd pause_s image_bytes restart_s rst_GiBs zst_ckpt zst_bytes zst_rst
for size in $SIZES; do
  sync
  T0=$(t); dd if=/dev/zero of=dd.tmp bs=1M count="$size" conv=fsync status=none; T1=$(t)
  DD_S=$(echo "$T1 - $T0" | bc); rm -f dd.tmp
  DD_RATE=$(rate "$size" "$DD_S")
  echo "dd $size MiB with fsync: ${DD_S} s = ${DD_RATE} GiB/s"
  for kind in incompressible compressible halfzero; do
    row=()
    for mode in stored zstd; do
      rm -f go img out.txt
      "$BIN/cr_run" "$BIN/bench_mem" "$size" $kind "$DIR/go" > out.txt &
      P=$!
      until grep -q ready out.txt 2>/dev/null; do sleep 0.1; done
      sync
      flag=""; [ $mode = zstd ] && flag=--compress
      T0=$(t); "$BIN/cr_checkpoint" -q $flag -f img $P; T1=$(t)
      CK=$(echo "$T1 - $T0" | bc)
      touch go; wait $P
      PAUSE=$(awk '/maxgap/ {print $2}' out.txt)
      grep -q intact out.txt || { echo "memory damaged after continue"; exit 1; }
      BYTES=$(stat -c %s img)
      # Restart: "go" already exists, so the restored program's first tick
      # reports the time it ran again: command start to first progress.
      T0=$(t); "$BIN/cr_restart" -q img > rst.txt
      grep -q intact rst.txt || { echo "memory damaged after restart"; exit 1; }
      RS=$(echo "$(awk '/^go/ {print $2}' rst.txt) - $T0" | bc)
      row+=("$CK" "$BYTES" "$RS" "$PAUSE")
    done
    printf "%-6s %-15s %-9s %8.2f %9s %7s %8s %12s %9.2f %9s | %8.2f %12s %9.2f\n" \
      "$size" $kind stored "${row[0]}" "$(rate "$size" "${row[0]}")" \
      "$(echo "scale=2; $DD_S / ${row[0]}" | bc)" "${row[3]}" "${row[1]}" "${row[2]}" \
      "$(rate "$size" "${row[2]}")" "${row[4]}" "${row[5]}" "${row[6]}"
    rm -f img
  done
done
