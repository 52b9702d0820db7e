/* handoff: the floor under the agent lower half's per-call cost. Two
 * processes pinned to one CPU hand a token back and forth through shared
 * memory, waiting either with sched_yield (what libcrpmpi and cr_agent do
 * when they share a CPU) or with a futex; and, for comparison, spinning on
 * two CPUs. Prints "key microseconds-per-handoff" lines. A call to the
 * agent is two handoffs when app and agent share a CPU. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kYield, kFutex, kSpin };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static double run(int mode, int same_cpu, int n) {
  volatile int* w = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  double* out = (double*)(w + 16);
  pid_t p = fork();
  int me = p == 0;
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(same_cpu ? 0 : me, &s);
  sched_setaffinity(0, sizeof s, &s);
  double t = now();
  for (int i = 0; i < n; ++i) {
    int want = 2 * i + me;
    for (int seen; (seen = *w) != want;) {
      if (mode == kYield) sched_yield();
      /* Wait on the value just compared: reading *w again here could see
       * the other side's store (made, and woken, since the comparison) and
       * sleep on it with nobody left to wake us -- both sides then hang. */
      if (mode == kFutex) syscall(SYS_futex, w, FUTEX_WAIT, seen, 0, 0, 0);
    }
    __atomic_store_n(w, want + 1, __ATOMIC_SEQ_CST);
    if (mode == kFutex) syscall(SYS_futex, w, FUTEX_WAKE, 1, 0, 0, 0);
  }
  if (me) _exit(0);
  waitpid(p, NULL, 0);
  *out = (now() - t) / (2.0 * n) * 1e6;
  double r = *out;
  munmap((void*)w, 4096);
  return r;
}

int main(void) {
  int n = 100000;
  printf("handoff_yield_same_cpu_us %.3f\n", run(kYield, 1, n));
  printf("handoff_futex_same_cpu_us %.3f\n", run(kFutex, 1, n));
  if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
    printf("handoff_spin_two_cpus_us %.3f\n", run(kSpin, 0, n));
  return 0;
}
