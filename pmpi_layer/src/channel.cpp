// Doorbells of the shared-memory channel: futex wake/wait with adaptive spin.
//
// Algorithm: the waiter spins on the sequence word, calling sched_yield so a
// runnable peer on the same core gets it, for at most `spin_ns`. Then it sets
// its `sleeping` flag (seq_cst), re-checks the word and sleeps in FUTEX_WAIT
// on the word's current value. The ringer increments the word (seq_cst) and
// calls FUTEX_WAKE only if the flag is set: the seq_cst store/load pairs make
// it impossible for both to miss each other (Dekker). Sleeps are bounded
// (100 ms) so that a dead peer is noticed through `alive`. The spin budget
// adapts (see Spin): a waiter whose peer computes for long stops spinning
// after a couple of microseconds, so it does not steal the core it shares.
#include "crmpi/channel.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace crmpi::chan {
namespace {

long futex(std::atomic<uint32_t>* w, int op, uint32_t val, const timespec* ts) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), op, val, ts, nullptr, 0);
}

constexpr int kPauses = 64;  // pause instructions between clock checks / yields
const bool kColocatedYield = !getenv("CRMPI_NO_COLOCATED_YIELD");

long now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

}  // namespace


void ring(std::atomic<uint32_t>& seq, std::atomic<uint32_t>& sleeping) {
  seq.fetch_add(1, std::memory_order_seq_cst);
  if (sleeping.load(std::memory_order_seq_cst)) futex(&seq, FUTEX_WAKE, 1, nullptr);
}

uint32_t wait_change(std::atomic<uint32_t>& seq, std::atomic<uint32_t>& sleeping, uint32_t seen,
                     Spin& spin, bool (*alive)()) {
  uint32_t v = seq.load(std::memory_order_acquire);
  if (v != seen) return v;
  long start = now_ns();
  long spin_ns = spin.cur_ns;
  int cpu = sched_getcpu();
  if (spin.my_cpu) spin.my_cpu->store(cpu, std::memory_order_relaxed);
  for (int i = 0;; ++i) {
    bool colocated =
        kColocatedYield && spin.peer_cpu && spin.peer_cpu->load(std::memory_order_relaxed) == cpu;
    int pauses = colocated ? 1 : kPauses;
    for (int k = 0; k < pauses; ++k) {
      v = seq.load(std::memory_order_acquire);
      if (v != seen) {
        long waited = now_ns() - start;
        if (2 * waited > spin.cur_ns) spin.cur_ns = std::min(spin.max_ns, 2 * spin.cur_ns);
        return v;
      }
      __builtin_ia32_pause();
    }
    if (now_ns() - start > spin_ns) break;
    sched_yield();
  }
  spin.cur_ns = std::max(spin.min_ns, spin.cur_ns / 2);
  const timespec ts{0, 100 * 1000 * 1000};
  for (;;) {
    sleeping.store(1, std::memory_order_seq_cst);
    v = seq.load(std::memory_order_seq_cst);
    if (v != seen) break;
    futex(&seq, FUTEX_WAIT, seen, &ts);
    v = seq.load(std::memory_order_seq_cst);
    if (v != seen) break;
    if (alive && !alive()) break;
  }
  sleeping.store(0, std::memory_order_relaxed);
  return v;
}

}  // namespace crmpi::chan

namespace crmpi {

bool vm_copy(int pid, bool write, uint64_t remote, void* local, size_t n) {
  char* l0 = static_cast<char*>(local);
  for (size_t done = 0; done < n;) {
    iovec l{l0 + done, n - done}, r{reinterpret_cast<void*>(remote + done), n - done};
    ssize_t k =
        write ? process_vm_writev(pid, &l, 1, &r, 1, 0) : process_vm_readv(pid, &l, 1, &r, 1, 0);
    if (k <= 0) {
      if (k == 0) errno = EFAULT;
      return false;
    }
    done += static_cast<size_t>(k);
  }
  return true;
}

}  // namespace crmpi
