// die_of_signal.h -- end this process as if killed by a signal, so that its
// parent sees the same wait status (crmpirun mirroring mpirun, cr_agent
// mirroring its application, crmpirun ending a job checkpointed with
// --term/--kill as BLCR's process would end).
//
// Signal safety: async-signal-safe (cr_agent calls it from SIGCHLD).
#pragma once

#include <signal.h>
#include <unistd.h>

namespace crtools {

// Restore the default action of @sig, unblock it and raise it; if it does
// not end the process (an ignored or stopping signal), exit 128 + sig.
[[noreturn]] inline void die_of_signal(int sig) {
  signal(sig, SIG_DFL);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, sig);
  sigprocmask(SIG_UNBLOCK, &s, nullptr);
  raise(sig);
  _exit(128 + sig);
}

}  // namespace crtools
