// cr_checkpoint_job.h -- cr_checkpoint's job mode: when PID is a crmpirun
// (it has a job control socket, crmpi/job_control.h), the whole MPI job is
// checkpointed through it.
#pragma once

#include <sys/types.h>

#include <string>

#include "control.h"

namespace crtools {

// True if process @pid (with ids @ids) listens on a job control socket.
bool is_job(pid_t pid, const crctl::ProcIds& ids);

// Asks crmpirun @pid for a job checkpoint into @dir ("" for crmpirun's
// default folder) with coord::After @after and @timeout_s (0: default),
// shows progress on a terminal, prints the manifest path.  Returns the exit
// status: 0 only when committed.
int checkpoint_job(pid_t pid, const crctl::ProcIds& ids, const std::string& dir, unsigned after,
                   unsigned timeout_s, bool quiet, int sigfd);

}  // namespace crtools
