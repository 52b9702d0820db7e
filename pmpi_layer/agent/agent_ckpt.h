// agent_ckpt.h -- the agent's part in a job checkpoint (agent_ckpt.cpp: the
// stages and the link to the coordinator; agent_drain.cpp: the drain, the
// settling of requests, the hand-over of drained messages, the restart's
// rebuild).  The protocol is include/crmpi/coord_protocol.h; the calls the
// application's checkpoint driver makes are kOpCkpt* in crmpi/protocol.h.
//
// Thread safety: the agent's main thread only, except the event thread
// started by start(), which only watches file descriptors and rings the
// agent's doorbell.  Signal safety: none.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

#include "agent_internal.h"

namespace crmpi::agent::ckpt {

// A blocking call the job checkpoint paused (caught by execute(), which
// answers the app with `rc`: chan::kRcPaused or chan::kRcPausedSent).
struct Paused {
  int32_t rc;
};

// Point-to-point messages handed to MPI / taken out of MPI by this agent
// since it started (the drain's counts; acknowledgements excluded).
extern uint64_t g_sent, g_received;

// start: if $CRMPI_COORD is set, connect to the coordinator (authenticated
// with $CRMPI_JOB_SECRET) and start the event thread.  `restored`: this
// incarnation restores an image.  Returns false with a message on stderr
// if the coordinator is configured but cannot be reached or refuses us.
bool start(bool restored);
// Whether this job has a coordinator (checkpoints possible).
bool enabled();
// True in a restored incarnation until the app's first kOpCkptResume: the
// app rebuilds its communicators (kOpCommRebuild is refused otherwise).
bool rebuilding();
// True once a committed checkpoint ends the job (--kill/--term): the app's
// death by that signal is expected, not an error to report.
bool ending();

// poll: handle whatever the coordinator or the app's libcr sent (cheap
// when nothing did).  Called by the serve loop on every wake-up and by the
// waits below.
void poll();
// From Open MPI's progress engine, inside any blocking MPI call: answer the
// coordinator's Intent and Targets (socket work only; anything that needs
// MPI waits for poll()).
void progress_poll();
// True once the job wants this rank's app quiescent: blocking calls pause.
bool pausing();

// Communicators the app knows: their job-unique ids and collective counts
// (the safe point).  World (1) and self (2) are registered by start().
void comm_added(MPI_Comm c, uint64_t id, uint64_t seq);
void comm_freed(MPI_Comm c);
// A communicator on its way (MPI_Comm_idup posted): counted by id with no
// collective yet until comm_added() names its handle.
void comm_coming(uint64_t id);
// The app said hello (MPI_Init, or a restart's): it may now take part.
void app_hello();
// Every communicator the app knows (world and self included).
std::vector<MPI_Comm> app_comms();
// Before a collective (or a creation) on c: holds while its number would
// pass the job's target; throws Paused when the checkpoint needs the app
// quiescent instead.  Counts it once it may go.
void enter_collective(MPI_Comm c);
// Before a group collective: one that no single communicator's count
// orders (MPI_Comm_create_group: its group only; MPI_Intercomm_create:
// across two groups).  Parks like enter_collective, counts it on `counted`
// if that is one of the app's communicators (MPI_COMM_NULL: none), and
// tells the coordinator this rank is inside one until left_collective():
// meanwhile no rank parks.  Throws Paused as enter_collective does.
void enter_group_collective(MPI_Comm counted);
// After it: tells the coordinator the new counts during a safe point.
void left_collective();

// Wait for *r while honouring the checkpoint.  Returns true once *r
// completed (*st, *rc set); false if the checkpoint wants the app paused
// first (*r still active: the caller cancels, detaches or keeps it).
bool wait_or_pause(MPI_Request* r, MPI_Status* st, int* rc);
// Wait for *r (a send or an internal request), which completes by itself
// or through the drain of its receiver; meanwhile serve the checkpoint
// (and, once the job drains, receive into the stash, so that two ranks
// sending to each other both complete).  Returns MPI_Wait's code.
int wait_through(MPI_Request* r, MPI_Status* st);
// Inside a polling blocking call: handle events; throws Paused once the
// checkpoint wants the app paused.
void poll_or_pause();
// One idle moment inside a held or polling call: serve peers' rendezvous,
// let MPI progress, handle events; sleeps up to `ms` when nothing happens.
void idle(int ms);

// ---- drain and rebuild (agent_drain.cpp)
// Receive every message MPI can give us now into the stash (rendezvous
// payloads pulled from the sender app), complete what completed.
// Returns 0 or an errno-like code (a payload that could not be copied).
int drain_step();
// After the drain: cancel or complete every pending request, complete
// sends and nonblocking collectives.  Returns 0 or an errno-like code.
int settle();
// kOpCkptPeekMessage / kOpCkptTakeMessage / kOpCommRebuild.
void op_peek_message(chan::Msg& m);
void op_take_message(chan::Msg& m);
void op_comm_rebuild(chan::Msg& m);
void op_comm_live(chan::Msg& m);
// kOpFinalize, before MPI_Finalize: meet every rank while still serving
// the coordinator (inside MPI_Finalize we could not).  Until all came this
// is a safe point like a blocking receive: throws Paused when the
// checkpoint wants the app paused (the app makes the call again; the
// barrier stays posted).  A rank that asked for checkpoints first waits for
// their answers (RequestDone): no rank finishes before a checkpoint it
// asked for is over, so none of its peers can either.
void finalize_meet();
// The app is leaving MPI (after finalize_meet, or without a coordinator):
// it cannot take part in a checkpoint any more; a checkpoint not yet
// drained fails, naming this rank, and so does every later Intent (from
// Open MPI's progress engine if we are inside MPI_Finalize).
void finishing();
// kOpCkptRequest: ask the coordinator for a job checkpoint (answered by
// RequestDone, which finalize_meet waits for).  False if the job has none
// (or lost it).
bool request_job_checkpoint(uint32_t after);
// kOpCkptQuiesced / kOpCkptResume (agent_ckpt.cpp).
void op_quiesced(chan::Msg& m);
void op_resume(chan::Msg& m);
// Messages waiting in the stash.
size_t stashed_messages();

}  // namespace crmpi::agent::ckpt
