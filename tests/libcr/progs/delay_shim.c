/* delay_shim.c -- preloaded after libcr (tests/libcr/stress_test.sh
 * --widen) to stretch, on purpose, the two moments a checkpoint is exposed
 * to preemption, so that a race that needs an unlucky schedule on a loaded
 * machine shows up in a few checkpoints:
 *
 *   - every call of syscall(SYS_futex, ..., FUTEX_WAKE_PRIVATE, ...) sleeps
 *     0-300 ms first: libcr wakes the manager through syscall() after a
 *     thread counted itself arrived, so this is a thread preempted right
 *     after arriving, which then goes on using its stack;
 *   - every writev() sleeps 2 ms first: libcr writes image sections with
 *     writev, so this is the manager preempted between computing a
 *     section's checksum and writing its bytes.
 *
 * Nothing else changes: the calls then run as they would have.  A capture
 * that does not depend on timing passes with or without it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <sys/types.h>

static long raw6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

static void pause_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  raw6(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
}

static unsigned next_random(void) {
  static __thread uint64_t x;
  if (!x) x = (uint64_t)raw6(SYS_gettid, 0, 0, 0, 0, 0, 0) * 0x9e3779b97f4a7c15ULL | 1;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return (unsigned)(x >> 32);
}

/* Same calling convention as the variadic original for integer arguments. */
long syscall(long n, long a, long b, long c, long d, long e, long f) {
  if (n == SYS_futex && b == FUTEX_WAKE_PRIVATE) pause_us(next_random() % 300000);
  long r = raw6(n, a, b, c, d, e, f);
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

ssize_t writev(int fd, const struct iovec* iov, int n) {
  static ssize_t (*real)(int, const struct iovec*, int);
  if (!real) real = (ssize_t(*)(int, const struct iovec*, int))dlsym(RTLD_NEXT, "writev");
  pause_us(2000);
  return real(fd, iov, n);
}
