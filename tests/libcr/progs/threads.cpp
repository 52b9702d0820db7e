// threads.cpp -- 8 worker threads, mutexes and condition variables.
// Workers take numbered work items from a shared queue (mutex + condvar),
// fold them into per-thread state on their own stacks, and meet at a
// condvar barrier after each round.  The main thread prints one line per
// round with values that do not depend on scheduling, so any thread, lock
// or stack lost across a restart changes or stalls the output.
//   threads ROUNDS [DELAY_MS [STOPFILE]]
// With STOPFILE it runs until that file exists (ROUNDS is ignored), as a
// checkpoint test's program must: the test decides when it ends, never a
// race between its checkpoints and the program's own end.  At the end the
// main thread checks every round's sum against its own computation and
// prints "verdict ok" (or how many rounds were wrong).
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const int kWorkers = 8;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static int next_item = 0, items_in_round = 0, finished = 0, round_no = -1;
static uint64_t round_sum = 0;
static int rounds = 12;

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

static void* worker(void* arg) {
  long id = (long)arg;
  uint64_t mine[512];  // private state on this thread's stack
  for (int i = 0; i < 512; ++i) mine[i] = mix(id * 1000 + i);
  int seen_round = -1;
  for (;;) {
    pthread_mutex_lock(&mu);
    while (round_no == seen_round) pthread_cond_wait(&work_cv, &mu);
    if (round_no >= rounds) {
      pthread_mutex_unlock(&mu);
      break;
    }
    seen_round = round_no;
    for (;;) {
      if (next_item >= items_in_round) break;
      int item = next_item++;
      pthread_mutex_unlock(&mu);
      uint64_t v = mix(item + 7919ULL * seen_round);
      for (int k = 0; k < 2000; ++k) v = mix(v + mine[k & 511]);  // real work
      mine[item & 511] ^= v;                                      // private state changes too
      pthread_mutex_lock(&mu);
      round_sum += mix(item + 7919ULL * seen_round);
    }
    if (++finished == kWorkers) pthread_cond_signal(&done_cv);
    pthread_mutex_unlock(&mu);
  }
  uint64_t h = 0;
  for (int i = 0; i < 512; ++i) h ^= mine[i];
  return (void*)(uintptr_t)(h != 0);
}

// What round r's sum must be, computed without the workers.
static uint64_t expected_sum(int r, int items) {
  uint64_t s = 0;
  for (int item = 0; item < items; ++item) s += mix(item + 7919ULL * r);
  return s;
}

int main(int argc, char** argv) {
  if (argc > 1) rounds = atoi(argv[1]);
  int delay_ms = argc > 2 ? atoi(argv[2]) : 100;
  const char* stopfile = argc > 3 ? argv[3] : nullptr;
  if (stopfile) rounds = 1 << 30;  // until told to stop
  pthread_t t[kWorkers];
  for (long i = 0; i < kWorkers; ++i) pthread_create(&t[i], NULL, worker, (void*)i);
  int wrong = 0;
  for (int r = 0;; ++r) {
    const bool last = stopfile ? access(stopfile, F_OK) == 0 : r >= rounds;
    pthread_mutex_lock(&mu);
    if (last) rounds = r;  // the workers leave at this round
    finished = 0;
    round_sum = 0;
    next_item = 0;
    items_in_round = 200 + r * 10;
    round_no = r;
    pthread_cond_broadcast(&work_cv);
    if (!last)
      while (finished < kWorkers) pthread_cond_wait(&done_cv, &mu);
    uint64_t s = round_sum;
    pthread_mutex_unlock(&mu);
    if (last) break;
    wrong += s != expected_sum(r, items_in_round);
    printf("step %d items %d sum %016llx\n", r, items_in_round, (unsigned long long)s);
    fflush(stdout);
    usleep(delay_ms * 1000);
  }
  int ok = 0;
  for (int i = 0; i < kWorkers; ++i) {
    void* rv;
    pthread_join(t[i], &rv);
    ok += rv != NULL;
  }
  printf("joined %d workers\n", ok);
  if (wrong) printf("verdict: %d round(s) wrong\n", wrong);
  else printf("verdict ok\n");
  return wrong != 0;
}
