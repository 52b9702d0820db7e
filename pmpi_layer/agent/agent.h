// agent.h -- the agent's executor: the server half of the channel protocol
// (docs/protocol.md), linked into cr_agent, the real MPI process of one
// rank.  cr_agent (launcher/cr_agent) owns the process: it initialises MPI,
// creates the channel, forks the app and waits; for every call the app
// rings, it asks this executor to run it.
//
// Thread safety: single-threaded (the agent's main thread, plus Open MPI's
// progress callbacks which this library guards against recursion).
// Signal safety: none.
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
// Execute the posted sends in the async ring, in order (agent_p2p.cpp).
void run_posted_sends();
// Predefined handle table, indexed like predefined.inc.
void init_tables();
// True once the app called MPI_Finalize through us.
bool app_finalized();
bool app_initialized();

}  // namespace crmpi::agent
