/* bench_mem.c -- workload for bench_ckpt.sh.
 *   bench_mem MIB KIND GOFILE
 * KIND: incompressible (random bytes), compressible (repetitive records),
 * halfzero (every other page zero, the rest random).  Touches MIB MiB,
 * prints "ready", then ticks every millisecond until GOFILE exists, when it
 * prints the largest gap between ticks (the pause a checkpoint caused, plus
 * 1 ms), verifies its memory and exits 0 (1 if memory is damaged). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  size_t n = strtoull(argv[1], NULL, 10) << 20;
  const char* kind = argv[2];
  uint64_t* m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 1;
  uint64_t x = 0x9E3779B97F4A7C15ull;
  const size_t words = n / 8, page_words = 512;
  for (size_t i = 0; i < words; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    if (!strcmp(kind, "compressible")) {
      m[i] = (i % 8 == 0) ? i : 0x2020202065747962ull; /* "byte    " records */
    } else if (!strcmp(kind, "halfzero")) {
      m[i] = ((i / page_words) % 2) ? x : 0;
    } else {
      m[i] = x;
    }
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < words; ++i) sum += m[i] * (i | 1);
  printf("ready\n");
  fflush(stdout);
  double last = now(), maxgap = 0;
  int first = 1;
  while (access(argv[3], F_OK) != 0 || first--) {
    usleep(1000);
    double t = now();
    if (t - last > maxgap) maxgap = t - last;
    last = t;
  }
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  printf("go %ld.%09ld\n", (long)wall.tv_sec, wall.tv_nsec);
  uint64_t check = 0;
  for (size_t i = 0; i < words; ++i) check += m[i] * (i | 1);
  printf("maxgap %.3f\nmemory %s\n", maxgap, check == sum ? "intact" : "DAMAGED");
  return check == sum ? 0 : 1;
}
