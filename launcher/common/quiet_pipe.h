// quiet_pipe.h -- how the command-line tools behave when their reader goes
// away (`cr_info IMG | head`).
//
// A tool that writes a report must not die of SIGPIPE when the reader closes
// the pipe early: under `set -o pipefail` that turns a good result into exit
// status 141, and a tool that is in the middle of a checkpoint must never be
// stopped by its output.  The tools therefore ignore SIGPIPE: writes to a
// closed pipe fail with EPIPE, which stdio drops silently, and the exit
// status keeps its meaning (for cr_info: whether the image is good).
//
// Tools that exec another program (cr_run, crmpirun's mpirun) must not call
// this before the exec, or must restore SIG_DFL in the child: an ignored
// signal stays ignored across execve.
#pragma once

#include <signal.h>

namespace crtools {

// Make SIGPIPE harmless for this process.  Call first thing in main().
// Async-signal-safe; cannot fail for SIGPIPE.
inline void quiet_on_closed_pipe() {
  struct sigaction sa = {};
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, nullptr);
}

}  // namespace crtools
