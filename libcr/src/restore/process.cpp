// process.cpp (restore side) -- cwd, umask, rlimits, name, signal handlers.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "state.h"

namespace crrestore {

void restore_process(State& s) {
  const crimg::ProcessInfo& p = s.img.process;
  if (chdir(p.cwd.c_str()) != 0)
    s.warnings.push_back("cannot return to " + p.cwd + ": " + strerror(errno) +
                         "; staying in the current folder");
  umask(p.rec.umask);
  for (int i = 0; i < crimg::kNumRlimits; ++i) {
    struct rlimit rl = {p.rec.rlimits[i][0], p.rec.rlimits[i][1]};
    struct rlimit cur;
    if (prlimit(0, static_cast<__rlimit_resource>(i), nullptr, &cur) == 0 &&
        cur.rlim_cur == rl.rlim_cur && cur.rlim_max == rl.rlim_max) {
      continue;
    }
    if (prlimit(0, static_cast<__rlimit_resource>(i), &rl, nullptr) != 0) {
      s.warnings.push_back("cannot restore resource limit " + std::to_string(i) + ": " +
                           strerror(errno));
    }
  }
  std::string name = p.exe.substr(p.exe.find_last_of('/') + 1);
  prctl(PR_SET_NAME, name.substr(0, 15).c_str(), 0, 0, 0);
}

void restore_signals(State& s) {
  // Block everything first: from here on a handler would be the target's.
  sigset_t all;
  sigfillset(&all);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, 8);
  // Interval timers, after the handlers are in place and with every signal
  // blocked: an expiry during the restart stays pending until the threads
  // take their own masks back.
  for (int i = 0; i < 3; ++i) {
    const uint64_t* t = s.img.process.rec.itimers[i];
    if (!t[2] && !t[3]) continue;
    struct itimerval it = {{static_cast<time_t>(t[0]), static_cast<suseconds_t>(t[1])},
                           {static_cast<time_t>(t[2]), static_cast<suseconds_t>(t[3])}};
    if (setitimer(i, &it, nullptr) != 0) s.warnings.push_back(std::string("cannot restore interval timer ") + std::to_string(i));
  }
  for (size_t i = 0; i < s.img.sigactions.size(); ++i) {
    const int sig = static_cast<int>(i) + 1;
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    crimg::KSigaction k = s.img.sigactions[i];
    if (syscall(SYS_rt_sigaction, sig, &k, nullptr, 8) != 0) {
      s.fail("cannot restore the handler of signal " + std::to_string(sig) + ": " +
             strerror(errno));
    }
  }
}

}  // namespace crrestore
