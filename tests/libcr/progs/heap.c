/* heap.c -- single-threaded; every line printed depends on the whole heap.
 * A pool of blocks is allocated, freed and mutated with a PRNG; each step
 * prints a hash over every live block, so a lost or damaged heap page shows
 * up in the output.
 *   heap STEPS [DELAY_MS [STOPFILE]]
 * With STOPFILE it steps until that file exists (STEPS is ignored): a
 * checkpoint test decides when it ends, so it can neither end nor run far
 * past its marker before the checkpoint.  Run with the number of steps such
 * a run did, it prints the same lines. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBLOCKS 2048
static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

int main(int argc, char** argv) {
  int steps = argc > 1 ? atoi(argv[1]) : 12;
  int delay_ms = argc > 2 ? atoi(argv[2]) : 80;
  const char* stopfile = argc > 3 ? argv[3] : NULL;
  unsigned char* blocks[NBLOCKS] = {0};
  size_t sizes[NBLOCKS] = {0};
  for (int s = 0; stopfile ? access(stopfile, F_OK) != 0 : s < steps; ++s) {
    for (int k = 0; k < 3000; ++k) {
      int i = (int)(next() % NBLOCKS);
      if (blocks[i] && next() % 4 == 0) {
        free(blocks[i]);
        blocks[i] = NULL;
      } else if (!blocks[i]) {
        sizes[i] = 16 + next() % (next() % 8 == 0 ? 200000 : 4000);
        blocks[i] = malloc(sizes[i]);
        for (size_t j = 0; j < sizes[i]; ++j) blocks[i][j] = (unsigned char)next();
      } else {
        blocks[i][next() % sizes[i]] ^= (unsigned char)next();
      }
    }
    uint64_t h = 1469598103934665603ull;
    size_t live = 0;
    for (int i = 0; i < NBLOCKS; ++i) {
      if (!blocks[i]) continue;
      live += sizes[i];
      for (size_t j = 0; j < sizes[i]; ++j) h = (h ^ blocks[i][j]) * 1099511628211ull;
    }
    printf("step %d live %zu hash %016llx\n", s, live, (unsigned long long)h);
    fflush(stdout);
    usleep(delay_ms * 1000);
  }
  return 3;
}
