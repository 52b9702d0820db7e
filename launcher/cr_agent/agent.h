// cr_agent internals: the real MPI process of one rank (see docs/protocol.md).
#pragma once

#include <mpi.h>
#include <sys/types.h>

#include "crmpi/channel.h"

namespace crmpi::agent {

extern chan::Shared* g_sh;
extern pid_t g_app;
extern int g_rank;

// Execute the call in g_sh->msg and write the reply (agent_exec.cpp).
void execute();
// Execute the posted sends in the async ring, in order (agent_exec.cpp).
void drain_posted();
// Predefined handle table, indexed like predefined.inc.
void init_tables();
// True once the app called MPI_Finalize through us.
bool app_finalized();
bool app_initialized();

}  // namespace crmpi::agent
