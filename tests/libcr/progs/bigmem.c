/* bigmem.c -- touches N MiB (default 1024) with a position-dependent
 * pattern, then steps; each step verifies the whole area and prints a hash.
 * At the end it checks every word against what the steps must have left
 * and prints "verdict ok" (or how many words are wrong).
 * Usage: bigmem [MIB] [STEPS [STOPFILE]]
 * With STOPFILE it steps until that file exists (STEPS is ignored). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char** argv) {
  size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
  int steps = argc > 2 ? atoi(argv[2]) : 6;
  const char* stopfile = argc > 3 ? argv[3] : NULL;
  size_t n = mib << 20;
  uint64_t* m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 1;
  for (size_t i = 0; i < n / 8; ++i) m[i] = (i * 0x9E3779B97F4A7C15ull) ^ (i >> 7);
  int s;
  for (s = 0; stopfile ? access(stopfile, F_OK) != 0 : s < steps; ++s) {
    uint64_t h = 0;
    for (size_t i = 0; i < n / 8; i += 1) h = (h ^ m[i]) * 0x100000001b3ull;
    for (size_t i = (size_t)s; i < n / 8; i += 4096) m[i] += 1;
    printf("step %d hash %016llx\n", s, (unsigned long long)h);
    fflush(stdout);
    usleep(100000);
  }
  /* Step t added 1 to every word i >= t with i % 4096 == t % 4096. */
  size_t wrong = 0;
  for (size_t i = 0; i < n / 8; ++i) {
    uint64_t adds = 0;
    for (size_t t = i % 4096; t < (size_t)s && t <= i; t += 4096) ++adds;
    wrong += m[i] != ((i * 0x9E3779B97F4A7C15ull) ^ (i >> 7)) + adds;
  }
  if (wrong) printf("verdict: %zu words wrong\n", wrong);
  else printf("verdict ok\n");
  return wrong != 0;
}
