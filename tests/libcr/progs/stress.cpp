// stress.cpp -- many threads that keep rewriting their stacks and heap, to
// be checkpointed again and again while they run (tests/libcr/stress_test.sh).
//
//   ckpt_stress NTHREADS STOPFILE
//
// Every worker (and the main thread) owns a block on its stack and one on
// the heap.  In round k both hold words that are a function of (thread, k,
// index) only; each round first checks the whole previous round, then
// rewrites both blocks for round k+1, then recurses a few frames deep with
// checked arrays in every frame.  Now and then a thread takes a shared mutex
// or sleeps, so that checkpoints find threads in futex waits, in nanosleep
// and in user code.  A restart that brings back any stack or heap page from
// a different moment than the thread's registers makes a check fail.
//
// The program prints "ready" once every thread runs, and runs until STOPFILE
// exists (checked by the main thread between its rounds, no timing
// involved).  Then it stops the workers, joins them, checks everything a
// last time and prints one verdict line: "verdict: PASS ..." (exit 0) or
// "verdict: FAIL ..." (exit 1).
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

namespace {

constexpr int kMaxThreads = 64;
constexpr int kStackWords = 2048;  // 16 KiB on each stack
constexpr int kHeapWords = 32768;  // 256 KiB on the heap per thread
constexpr int kDepth = 6;          // checked frames below the loop
constexpr int kFrameWords = 128;

std::atomic<int> g_stop{0};
std::atomic<int> g_running{0};
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
uint64_t g_shared[kMaxThreads];  // under g_mu: each thread's last round
struct Result {
  uint64_t rounds, bad;
};
Result g_result[kMaxThreads];

uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ULL;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dULL;
  x ^= x >> 33;
  return x;
}

uint64_t word(uint64_t id, uint64_t k, uint64_t i) {
  return mix((id << 48) ^ (k << 20) ^ i);
}

// Fills a frame, recurses, then checks that the frame survived.
__attribute__((noinline)) uint64_t deep(uint64_t id, uint64_t k, int level) {
  volatile uint64_t frame[kFrameWords];
  for (int i = 0; i < kFrameWords; ++i) frame[i] = word(id + 1000, k * 16 + level, i);
  uint64_t bad = level > 0 ? deep(id, k, level - 1) : 0;
  for (int i = 0; i < kFrameWords; ++i) bad += frame[i] != word(id + 1000, k * 16 + level, i);
  return bad;
}

const char* g_stopfile = "stop";

// Whether this thread should stop now.  The main thread (id 0) looks for
// STOPFILE every few rounds and tells the workers.
bool time_to_stop(uint64_t id, uint64_t k) {
  if (id != 0) return g_stop.load(std::memory_order_relaxed) != 0;
  if (k % 4 != 0 || access(g_stopfile, F_OK) != 0) return false;
  g_stop.store(1);
  return true;
}

// One thread's life: rounds until told to stop.
void run(uint64_t id, Result* out) {
  volatile uint64_t stack_block[kStackWords];
  uint64_t* heap_block = static_cast<uint64_t*>(malloc(kHeapWords * sizeof(uint64_t)));
  uint64_t k = 0, bad = 0;
  for (int i = 0; i < kStackWords; ++i) stack_block[i] = word(id, k, i);
  for (int i = 0; i < kHeapWords; ++i) heap_block[i] = word(id + 500, k, i);
  g_running.fetch_add(1);
  for (;;) {
    for (int i = 0; i < kStackWords; ++i) bad += stack_block[i] != word(id, k, i);
    for (int i = 0; i < kHeapWords; ++i) bad += heap_block[i] != word(id + 500, k, i);
    if (time_to_stop(id, k)) break;
    ++k;
    for (int i = 0; i < kStackWords; ++i) stack_block[i] = word(id, k, i);
    for (int i = 0; i < kHeapWords; ++i) heap_block[i] = word(id + 500, k, i);
    bad += deep(id, k, kDepth);
    if (k % 8 == 0) {
      pthread_mutex_lock(&g_mu);
      bad += g_shared[id] != k - 8;
      g_shared[id] = k;
      pthread_mutex_unlock(&g_mu);
    }
    if (k % 32 == 0) {
      struct timespec ts = {0, 200000};
      nanosleep(&ts, nullptr);
    }
  }
  free(heap_block);
  out->rounds = k;
  out->bad = bad;
}

void* worker(void* arg) {
  const uint64_t id = reinterpret_cast<uintptr_t>(arg);
  run(id, &g_result[id]);
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 24;
  if (n < 1 || n >= kMaxThreads) n = 24;
  if (argc > 2) g_stopfile = argv[2];
  pthread_t t[kMaxThreads];
  for (int i = 1; i <= n; ++i)
    pthread_create(&t[i], nullptr, worker, reinterpret_cast<void*>(static_cast<uintptr_t>(i)));
  while (g_running.load() < n) sched_yield();
  printf("ready: %d threads\n", n + 1);
  fflush(stdout);
  run(0, &g_result[0]);
  uint64_t rounds = 0, bad = 0;
  for (int i = 1; i <= n; ++i) pthread_join(t[i], nullptr);
  for (int i = 0; i <= n; ++i) {
    rounds += g_result[i].rounds;
    bad += g_result[i].bad;
    // The mutex-protected record lags the thread by less than 8 rounds.
    if (g_shared[i] > g_result[i].rounds || g_result[i].rounds - g_shared[i] >= 8) ++bad;
  }
  printf("verdict: %s threads %d rounds %llu bad %llu\n", bad ? "FAIL" : "PASS", n + 1,
         static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(bad));
  return bad ? 1 : 0;
}
