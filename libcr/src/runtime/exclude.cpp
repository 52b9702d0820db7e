// exclude.cpp -- what the application keeps out of its image: fds
// (cr_exclude_fd) and memory ranges (cr_exclude_memory), for layers above
// libcr whose resources belong to the machine, not to the program.
//
// The lists are changed under a mutex by application threads and read by
// the manager during a checkpoint, while every application thread is
// stopped (so never while one of them holds the mutex half-way: the counts
// are published last, with release stores).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>

#include "internal.h"

namespace {
pthread_mutex_t g_excluded_lock = PTHREAD_MUTEX_INITIALIZER;
}

namespace crrt {

void forget_excluded_ranges() {
  g().nexcluded_mem = 0;
}

size_t excluded_ranges(uint64_t scratch_lo, uint64_t scratch_hi, MemRange* out) {
  Globals& G = g();
  size_t n = 0;
  if (scratch_hi > scratch_lo) out[n++] = {scratch_lo, scratch_hi};
  const int m = __atomic_load_n(&G.nexcluded_mem, __ATOMIC_ACQUIRE);
  for (int i = 0; i < m; ++i) out[n++] = {G.excluded_mem[i][0], G.excluded_mem[i][1]};
  // Sort (insertion: at most CR_MAX_EXCLUDED_RANGES + 1), then merge.
  for (size_t i = 1; i < n; ++i)
    for (size_t j = i; j > 0 && out[j].lo < out[j - 1].lo; --j) {
      MemRange t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    if (k && out[i].lo <= out[k - 1].hi) {
      if (out[i].hi > out[k - 1].hi) out[k - 1].hi = out[i].hi;
    } else {
      out[k++] = out[i];
    }
  }
  return k;
}

}  // namespace crrt

extern "C" int cr_exclude_memory(void* addr, size_t len) {
  const long page = sysconf(_SC_PAGESIZE);
  const uint64_t lo = reinterpret_cast<uintptr_t>(addr);
  if (lo % static_cast<uint64_t>(page) || len == 0 || lo + len < lo) {
    errno = EINVAL;
    return -1;
  }
  const uint64_t hi = (lo + len + page - 1) / page * page;
  crrt::Globals& G = crrt::g();
  pthread_mutex_lock(&g_excluded_lock);
  int rc = 0;
  if (G.nexcluded_mem >= CR_MAX_EXCLUDED_RANGES) {
    errno = ENOSPC;
    rc = -1;
  } else {
    G.excluded_mem[G.nexcluded_mem][0] = lo;
    G.excluded_mem[G.nexcluded_mem][1] = hi;
    __atomic_store_n(&G.nexcluded_mem, G.nexcluded_mem + 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&g_excluded_lock);
  return rc;
}

extern "C" int cr_include_memory(void* addr, size_t len) {
  const long page = sysconf(_SC_PAGESIZE);
  const uint64_t lo = reinterpret_cast<uintptr_t>(addr);
  const uint64_t hi = (lo + len + page - 1) / page * page;
  crrt::Globals& G = crrt::g();
  pthread_mutex_lock(&g_excluded_lock);
  int rc = -1;
  for (int i = 0; i < G.nexcluded_mem; ++i)
    if (G.excluded_mem[i][0] == lo && G.excluded_mem[i][1] == hi) {
      G.excluded_mem[i][0] = G.excluded_mem[G.nexcluded_mem - 1][0];
      G.excluded_mem[i][1] = G.excluded_mem[G.nexcluded_mem - 1][1];
      __atomic_store_n(&G.nexcluded_mem, G.nexcluded_mem - 1, __ATOMIC_RELEASE);
      rc = 0;
      break;
    }
  pthread_mutex_unlock(&g_excluded_lock);
  if (rc) errno = ENOENT;
  return rc;
}

namespace crrt {

void forget_excluded_fds() {
  g().nexcluded = 0;
}

}  // namespace crrt


extern "C" int cr_exclude_fd(int fd) {
  if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
    errno = EBADF;
    return -1;
  }
  crrt::Globals& G = crrt::g();
  pthread_mutex_lock(&g_excluded_lock);
  int rc = 0;
  bool have = false;
  for (int i = 0; i < G.nexcluded; ++i) have |= G.excluded_fds[i] == fd;
  if (!have) {
    if (G.nexcluded >= CR_MAX_EXCLUDED_FDS) {
      errno = ENOSPC;
      rc = -1;
    } else {
      G.excluded_fds[G.nexcluded] = fd;
      __atomic_store_n(&G.nexcluded, G.nexcluded + 1, __ATOMIC_RELEASE);
    }
  }
  pthread_mutex_unlock(&g_excluded_lock);
  return rc;
}

extern "C" int cr_include_fd(int fd) {
  crrt::Globals& G = crrt::g();
  pthread_mutex_lock(&g_excluded_lock);
  int rc = -1;
  for (int i = 0; i < G.nexcluded; ++i)
    if (G.excluded_fds[i] == fd) {
      G.excluded_fds[i] = G.excluded_fds[G.nexcluded - 1];
      __atomic_store_n(&G.nexcluded, G.nexcluded - 1, __ATOMIC_RELEASE);
      rc = 0;
      break;
    }
  pthread_mutex_unlock(&g_excluded_lock);
  if (rc) errno = ENOENT;
  return rc;
}
