// threads.cpp -- stopping every thread for a checkpoint and releasing it.
//
// Algorithm:
//   Stop.  The manager lists /proc/self/task with getdents64 (no malloc) and
//   sends the checkpoint signal to every thread not yet signalled, then
//   waits on the `arrived` futex.  It repeats the listing until no new
//   thread appears, because a thread may be created while others stop.  A
//   signalled thread that disappears without arriving is dropped; a thread
//   that does not arrive within the timeout fails the checkpoint with
//   CR_ETEMPFAIL (everybody who arrived is released).
//   In the handler a thread claims a slot, records what only it can read
//   about itself (fs base, robust list, alternate stack, rseq, the
//   interrupted registers and xstate, its mask), takes its pending signals,
//   runs its signal-context callbacks, and parks.
//   Park.  The manager starts reading memory as soon as the last thread
//   counts itself arrived, and a thread may be preempted right after it
//   did, before it sleeps.  So arriving must be the thread's last write to
//   memory until it is released:
//     - it blocks every signal first (a callback may have unblocked some),
//       so no handler can push a frame on its stack while it is parked;
//     - cr_park (ctx_x86_64.S) saves the callee-saved context, counts the
//       thread arrived, wakes the manager and sleeps on `gen`, all in
//       assembly that stores nothing after the `lock incl` (no call, no
//       push: the futex calls are raw syscall instructions).
//   What can still change while the manager reads memory is not a parked
//   thread's doing: the kernel rewrites a thread's rseq cpu/mm_cid fields
//   when it returns to user space after a preemption or migration (a
//   restart re-registers rseq anyway); other processes write shared
//   memory; the manager writes its own stack below its saved rsp (dead at
//   restart) and libcr's data.  Above its saved rsp the manager's frames
//   only hold values live across cr_ctx_save, which the compiler keeps
//   unchanged (returns_twice).  The writer hashes only bytes it has copied
//   (image/writer.cpp), so none of this can make an image whose checksums
//   fail; and check_still_stopped() fails the checkpoint if a thread that
//   was not parked ran or appeared during the capture.
//   Release.  The manager sets the result and bumps `gen`.  Threads run the
//   after-part of their callbacks, requeue their pending signals, count
//   themselves departed, and return from the handler; rt_sigreturn then
//   restores the interrupted context (registers, FPU, mask) from the signal
//   frame on their own stack, which is part of the image.
#include <asm/prctl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <time.h>
#include <unistd.h>

#include "crmpi/procstat.h"
#include "internal.h"

extern "C" {
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

namespace crrt {

pid_t gettid_raw() {
  return static_cast<pid_t>(syscall(SYS_gettid));
}

static uint64_t get_fs_base() {
  unsigned long v = 0;
  syscall(SYS_arch_prctl, ARCH_GET_FS, &v);
  return v;
}

long discover_tid_offset() {
  // glibc keeps each thread's TID in its struct pthread, which starts at the
  // thread pointer.  Find the field by value; the manager re-checks it.
  const char* tp = reinterpret_cast<const char*>(get_fs_base());
  const pid_t tid = gettid_raw();
  for (long off = 0; off < 2048; off += 4)
    if (*reinterpret_cast<const pid_t*>(tp + off) == tid) return off;
  return -1;
}

void fill_thread_record(ThreadSlot* s, const ucontext_t* uc) {
  crimg::ThreadRecord& r = s->rec;
  r.tid = static_cast<uint32_t>(gettid_raw());
  r.flags = r.tid == static_cast<uint32_t>(getpid()) ? crimg::kThreadMain : 0;
  r.fs_base = get_fs_base();
  unsigned long gs = 0;
  syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
  r.gs_base = gs;
  stack_t ss;
  if (sigaltstack(nullptr, &ss) == 0) {
    r.altstack_sp = reinterpret_cast<uint64_t>(ss.ss_sp);
    r.altstack_size = ss.ss_size;
    r.altstack_flags = ss.ss_flags;
  }
  void* head = nullptr;
  size_t len = 0;
  if (syscall(SYS_get_robust_list, 0, &head, &len) == 0) {
    r.robust_head = reinterpret_cast<uint64_t>(head);
    r.robust_len = len;
  }
  if (&__rseq_size && &__rseq_offset && __rseq_size >= 20) {
    r.rseq_area = r.fs_base + static_cast<uint64_t>(__rseq_offset);
    r.rseq_len = __rseq_size < 32 ? 32 : __rseq_size;
    r.rseq_sig = CRMPI_RSEQ_SIG_X86;
  }
  sigset_t cur;
  raw_sigprocmask(SIG_BLOCK, nullptr, &cur);
  memcpy(&r.handler_sigmask, &cur, 8);
  if (uc) {
    memcpy(&r.app_sigmask, &uc->uc_sigmask, 8);
    static_assert(sizeof(uc->uc_mcontext.gregs) == sizeof(r.gregs));
    memcpy(r.gregs, uc->uc_mcontext.gregs, sizeof r.gregs);
    // The FPU/xstate the kernel saved in the signal frame.
    const uint8_t* fp = reinterpret_cast<const uint8_t*>(uc->uc_mcontext.fpregs);
    if (fp) {
      uint32_t size = 512;
      const uint32_t* sw = reinterpret_cast<const uint32_t*>(fp + 464);  // fpx_sw_bytes
      if (sw[0] == 0x46505853U /* FP_XSTATE_MAGIC1 */) size = sw[4];     // xstate_size
      if (size > kXstateMax) size = kXstateMax;
      memcpy(s->xstate, fp, size);
      r.xstate_size = size;
    }
  } else {
    memcpy(&r.app_sigmask, &cur, 8);
  }
}

static void cr_signal_handler(int, siginfo_t*, void* ucv) {
  Globals& G = g();
  // Read the generation before looking at `active`: if the manager gives up
  // (timeout) and releases everybody between the two, this thread still
  // sees the release instead of waiting for the next checkpoint.
  G.in_handler.fetch_add(1);
  const uint32_t gen = G.gen.load();
  if (!G.active.load()) {  // late or stray: nothing to do
    G.in_handler.fetch_sub(1);
    return;
  }
  int saved_errno = errno;
  int idx = G.nslots.fetch_add(1);
  if (idx >= kMaxThreadRecords) {  // cannot record: fail the checkpoint
    int expected = 0;
    G.fail_errno.compare_exchange_strong(expected, CR_EPERMFAIL);
    G.arrived.fetch_add(1);
    futex_wake(&G.arrived);
    errno = saved_errno;
    G.in_handler.fetch_sub(1);
    return;
  }
  ThreadSlot* s = &G.slots[idx];
  s->gen_at_entry = gen;
  memset(&s->rec, 0, sizeof s->rec);
  fill_thread_record(s, static_cast<ucontext_t*>(ucv));
  dequeue_pending(s);
  run_signal_chain(s);  // ends in thread_park()
  requeue_pending(s);
  G.departed.fetch_add(1);
  futex_wake(&G.departed);
  errno = saved_errno;
  G.in_handler.fetch_sub(1);
}

void install_signal_handler() {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = cr_signal_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  real_sigaction(g().cr_signal, &sa, nullptr);
}

int thread_park(ThreadSlot* slot) {
  Globals& G = g();
  const uint32_t gen = slot->gen_at_entry;
  sigset_t all, old;
  sigfillset(&all);
  raw_sigprocmask(SIG_SETMASK, &all, &old);
  if (cr_park(&slot->rec.ctx, reinterpret_cast<uint32_t*>(&G.arrived),
              reinterpret_cast<const uint32_t*>(&G.gen), gen) != 0) {
    // Restarted: the restorer jumped here.  Tell the manager we are back.
    __atomic_fetch_add(&G.mailbox.restored_threads, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &G.mailbox.restored_threads, FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr,
            0);
    while (G.gen.load() == gen) futex_wait(&G.gen, gen, -1);
  }
  raw_sigprocmask(SIG_SETMASK, &old, nullptr);
  if (G.result < 0) errno = G.result_errno;
  return G.result;
}

// Lists thread ids into @out; returns how many.
static int list_tasks(pid_t* out, int max) {
  int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  alignas(8) char buf[4096];
  int n = 0;
  for (;;) {
    long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      if (d->d_name[0] != '.' && n < max) out[n++] = static_cast<pid_t>(atoi(d->d_name));
      off += d->d_reclen;
    }
  }
  close(fd);
  return n;
}

// A thread that can still run: exists and is not a zombie (a main thread
// that called pthread_exit stays listed, as a zombie, until the process
// ends, and never runs a handler).
static bool task_alive(pid_t tid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(tid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char st = crmpi::procstat::state(buf);
  return st != 'Z' && st != 'X';
}

int stop_all_threads(unsigned timeout_ms) {
  Globals& G = g();
  static pid_t signalled[kMaxThreadRecords];
  static pid_t tasks[kMaxThreadRecords];
  int nsig = 0;
  uint32_t expected = 0;
  const pid_t me = gettid_raw();
  const pid_t pid = getpid();
  const long deadline = now_ms() + timeout_ms;
  for (;;) {
    int nt = list_tasks(tasks, kMaxThreadRecords);
    int fresh = 0;
    for (int i = 0; i < nt; ++i) {
      pid_t t = tasks[i];
      if (t == me) continue;
      bool seen = false;
      for (int j = 0; j < nsig && !seen; ++j) seen = signalled[j] == t;
      if (seen || !task_alive(t)) continue;
      if (nsig >= kMaxThreadRecords - 1) return -CR_EPERMFAIL;
      if (syscall(SYS_tgkill, pid, t, G.cr_signal) == 0) {
        signalled[nsig++] = t;
        ++expected;
        ++fresh;
      }
    }
    if (fresh == 0 && G.arrived.load() >= expected) return 0;
    // Wait for arrivals, checking for threads that died meanwhile.
    while (G.arrived.load() < expected) {
      uint32_t a = G.arrived.load();
      futex_wait(&G.arrived, a, 10);
      if (now_ms() > deadline) return -CR_ETEMPFAIL;
      if (G.arrived.load() == a) {
        // Any signalled thread gone without arriving is no longer expected.
        for (int j = 0; j < nsig; ++j)
          if (signalled[j] && !task_alive(signalled[j])) {
            bool arrived = false;
            for (int k = 1; k < G.nslots.load() && k < kMaxThreadRecords; ++k)
              arrived |= static_cast<pid_t>(G.slots[k].rec.tid) == signalled[j];
            if (!arrived) {
              signalled[j] = 0;
              --expected;
            }
          }
      }
    }
  }
}

int check_still_stopped(int nslots, uint32_t arrived) {
  Globals& G = g();
  // A thread entering the handler now was not stopped during the capture.
  if (G.nslots.load() != nslots || G.arrived.load() != arrived) return -EAGAIN;
  static pid_t tasks[kMaxThreadRecords];
  const int nt = list_tasks(tasks, kMaxThreadRecords);
  const pid_t me = gettid_raw();
  for (int i = 0; i < nt; ++i) {
    bool parked = tasks[i] == me;
    for (int k = 1; k < nslots && !parked; ++k)
      parked = static_cast<pid_t>(G.slots[k].rec.tid) == tasks[i];
    if (!parked && task_alive(tasks[i])) return -EAGAIN;
  }
  return 0;
}

void release_threads(int result, int err) {
  Globals& G = g();
  G.result = result;
  G.result_errno = err;
  G.gen.fetch_add(1);
  futex_wake(&G.gen);
}

void wait_threads_departed() {
  Globals& G = g();
  for (;;) {
    uint32_t d = G.departed.load();
    if (d >= G.arrived.load()) return;
    futex_wait(&G.departed, d, 100);
  }
}

}  // namespace crrt
