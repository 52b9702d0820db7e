// signals.cpp -- signal state: dispositions, pending signals, and keeping
// the checkpoint signal deliverable.
//
// Dispositions are read with the raw rt_sigaction syscall so that the
// restorer can put back the exact handler, flags, mask and sa_restorer.
// Pending signals are taken off each thread in the handler (sigtimedwait
// with a zero timeout) and requeued to the same thread after the capture,
// in the original process and in a restarted one alike; that keeps their
// siginfo.  A process-directed signal is requeued to the thread that took
// it (documented limit).
//
// Applications may block "all signals" in some threads; that would make the
// thread impossible to stop.  libcr therefore interposes the mask-setting
// calls and drops the checkpoint signal from any set being blocked, as glibc
// itself does for its internal signals.
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

namespace crrt {

int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  using fn_t = int (*)(int, const struct sigaction*, struct sigaction*);
  static fn_t real = reinterpret_cast<fn_t>(dlsym(RTLD_NEXT, "sigaction"));
  return real(sig, act, old);
}

int raw_sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  return static_cast<int>(syscall(SYS_rt_sigprocmask, how, set, old, 8));
}

int encode_signals(crimg::Encoder* e) {
  const uint32_t n = 64;
  e->pod(n);
  for (uint32_t sig = 1; sig <= n; ++sig) {
    crimg::KSigaction k;
    memset(&k, 0, sizeof k);
    if (sig != SIGKILL && sig != SIGSTOP) syscall(SYS_rt_sigaction, sig, nullptr, &k, 8);
    e->pod(k);
  }
  return e->overflow() ? -ENOMEM : 0;
}

void dequeue_pending(ThreadSlot* s) {
  sigset_t set;
  sigfillset(&set);
  sigdelset(&set, g().cr_signal);
  struct timespec zero = {0, 0};
  uint32_t n = 0;
  while (n < static_cast<uint32_t>(kMaxPending)) {
    siginfo_t info;
    long sig = syscall(SYS_rt_sigtimedwait, &set, &info, &zero, 8);
    if (sig <= 0) break;
    static_assert(sizeof(info) == sizeof(s->pending[0].siginfo));
    memcpy(s->pending[n].siginfo, &info, sizeof info);
    ++n;
  }
  s->rec.npending = n;
}

void requeue_pending(ThreadSlot* s) {
  const pid_t pid = getpid();
  const pid_t tid = gettid_raw();
  for (uint32_t i = 0; i < s->rec.npending; ++i) {
    siginfo_t info;
    memcpy(&info, s->pending[i].siginfo, sizeof info);
    syscall(SYS_rt_tgsigqueueinfo, pid, tid, info.si_signo, &info);
  }
}

static void strip(sigset_t* set) {
  sigdelset(set, g().cr_signal ? g().cr_signal : SIGRTMAX - 2);
  // glibc's own internal signals (SIGCANCEL, SIGSETXID), as glibc does.
  sigdelset(set, SIGRTMIN - 2);
  sigdelset(set, SIGRTMIN - 1);
}

}  // namespace crrt

using crrt::strip;

extern "C" {

// Interposed mask calls (only effective where libcr precedes libc).
int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  sigset_t copy;
  if (set && how != SIG_UNBLOCK) {
    copy = *set;
    strip(&copy);
    set = &copy;
  }
  return crrt::raw_sigprocmask(how, set, old) == 0 ? 0 : errno;
}

int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  int rc = pthread_sigmask(how, set, old);
  if (rc) {
    errno = rc;
    return -1;
  }
  return 0;
}

int sigsuspend(const sigset_t* mask) {
  sigset_t copy = *mask;
  strip(&copy);
  return static_cast<int>(syscall(SYS_rt_sigsuspend, &copy, 8));
}

// Waiting for "every signal" must not swallow the checkpoint signal either.
int sigtimedwait(const sigset_t* set, siginfo_t* info, const struct timespec* timeout) {
  sigset_t copy = *set;
  strip(&copy);
  for (;;) {
    long r = syscall(SYS_rt_sigtimedwait, &copy, info, timeout, 8);
    // Interrupted by a checkpoint of this thread: wait again (a timeout
    // restarts from the beginning; acceptable for such a rare event).
    if (r < 0 && errno == EINTR && !timeout) continue;
    return static_cast<int>(r);
  }
}

int sigwaitinfo(const sigset_t* set, siginfo_t* info) {
  return sigtimedwait(set, info, nullptr);
}

int sigwait(const sigset_t* set, int* sig) {
  int r = sigtimedwait(set, nullptr, nullptr);
  if (r < 0) return errno;
  *sig = r;
  return 0;
}

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (act && sig == crrt::g().cr_signal && crrt::g().cr_signal != 0) {
    errno = EINVAL;  // reserved by libcr
    return -1;
  }
  return crrt::real_sigaction(sig, act, old);
}

}  // extern "C"
