/* bench_populate.c -- baseline for restart speed: seconds this machine needs
 * to fault in MIB of fresh anonymous memory (MADV_POPULATE_WRITE), which a
 * restart must do for every saved page before copying into it.
 *   bench_populate MIB */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char** argv) {
  size_t n = (argc > 1 ? strtoull(argv[1], NULL, 10) : 1024) << 20;
  char* m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 1;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  if (madvise(m, n, MADV_POPULATE_WRITE) != 0) return 1;
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.3f\n", (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) * 1e-9);
  return 0;
}
