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
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

namespace crrt {

void* next_symbol(const char* name) {
  if (void* p = dlsym(RTLD_NEXT, name)) return p;
  // libcr loaded as a dependency of a preloaded library (libcrpmpi) comes
  // after libc in the search order: RTLD_NEXT finds nothing.  Take libc's.
  static void* libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
  return libc ? dlsym(libc, name) : nullptr;
}

int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  using fn_t = int (*)(int, const struct sigaction*, struct sigaction*);
  static fn_t real = reinterpret_cast<fn_t>(next_symbol("sigaction"));
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

// Calls that take a temporary signal mask.  The real functions are found
// at load time (resolve_real_sig), never in a checkpoint.
struct RealSig {
  int (*ppoll)(struct pollfd*, nfds_t, const struct timespec*, const sigset_t*);
  int (*pselect)(int, fd_set*, fd_set*, fd_set*, const struct timespec*, const sigset_t*);
  int (*epoll_pwait)(int, struct epoll_event*, int, int, const sigset_t*);
  sighandler_t (*signal)(int, sighandler_t);
  sighandler_t (*sigset)(int, sighandler_t);
};
static RealSig real_sig;

void crrt::resolve_real_sig() {
#define CR_RESOLVE(name) \
  real_sig.name = reinterpret_cast<decltype(real_sig.name)>(next_symbol(#name))
  CR_RESOLVE(ppoll);
  CR_RESOLVE(pselect);
  CR_RESOLVE(epoll_pwait);
  CR_RESOLVE(signal);
  CR_RESOLVE(sigset);
#undef CR_RESOLVE
}

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

static const sigset_t* stripped(const sigset_t* in, sigset_t* copy) {
  if (!in) return nullptr;
  *copy = *in;
  strip(copy);
  return copy;
}

int ppoll(struct pollfd* fds, nfds_t n, const struct timespec* t, const sigset_t* mask) {
  if (!real_sig.ppoll) crrt::resolve_real_sig();
  sigset_t c;
  return real_sig.ppoll(fds, n, t, stripped(mask, &c));
}

int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const struct timespec* t,
            const sigset_t* mask) {
  if (!real_sig.pselect) crrt::resolve_real_sig();
  sigset_t c;
  return real_sig.pselect(n, r, w, e, t, stripped(mask, &c));
}

int epoll_pwait(int ep, struct epoll_event* ev, int max, int t, const sigset_t* mask) {
  if (!real_sig.epoll_pwait) crrt::resolve_real_sig();
  sigset_t c;
  return real_sig.epoll_pwait(ep, ev, max, t, stripped(mask, &c));
}

// signal() and sigset() go through glibc's internal sigaction, past the
// interposed one: refuse the checkpoint signal here too.
sighandler_t signal(int sig, sighandler_t h) {
  if (!real_sig.signal) crrt::resolve_real_sig();
  if (sig == crrt::g().cr_signal && sig != 0) {
    errno = EINVAL;
    return SIG_ERR;
  }
  return real_sig.signal(sig, h);
}

sighandler_t sigset(int sig, sighandler_t h) {
  if (!real_sig.sigset) crrt::resolve_real_sig();
  if (sig == crrt::g().cr_signal && sig != 0) {
    errno = EINVAL;
    return SIG_ERR;
  }
  return real_sig.sigset(sig, h);
}

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (act && sig == crrt::g().cr_signal && crrt::g().cr_signal != 0) {
    errno = EINVAL;  // reserved by libcr
    return -1;
  }
  return crrt::real_sigaction(sig, act, old);
}

}  // extern "C"
