// lower_half.h: how libcrpmpi executes MPI calls.
//
// libcrpmpi's wrappers never call an MPI library themselves: they describe a
// call in the channel's message slot (crmpi/channel.h) and hand it to the
// LowerHalf. Phase 1's backend is AgentLowerHalf (lh_agent.cpp), which ships
// the call to cr_agent over the shared-memory channel. A later phase may add
// an in-process backend behind the same interface, leaving every layer above
// unchanged; a restart (next issue) detaches and re-attaches it.
//
// Thread safety: none of these functions may run concurrently; libcrpmpi
// serialises them with its recursive mutex (crmpi::Lock), which is what
// limits the thread level to MPI_THREAD_SERIALIZED.
// Signal safety: none is async-signal-safe.
#pragma once

#include <cstddef>

#include "crmpi/channel.h"

namespace crmpi {

class LowerHalf {
 public:
  // A callback request from the lower half while it executes a call (user
  // reduction ops). `m` holds its arguments, `data` its payload; the handler
  // writes its results in place and returns.
  using CallbackFn = void (*)(chan::Msg& m, char* data);

  virtual ~LowerHalf() = default;

  // attach: connect to the backend (agent: map the channel named by
  // $CRMPI_CHANNEL_FD and check its magic/version).
  // Returns: true on success; false if there is no channel or it is invalid
  // (a message on stderr says why). Called once, from MPI_Init.
  virtual bool attach() = 0;

  // detach: unmap the channel. Every later call that needs the lower half
  // prints "called after MPI_Finalize" and exits 1. Called from
  // MPI_Finalize, and by a checkpoint before the capture (next issue).
  virtual void detach() = 0;

  // msg/data: the call slot and the inline payload area (data_size() bytes)
  // of the current call. Valid until the next call(); exits with a message
  // if the lower half is not attached.
  virtual chan::Msg& msg() = 0;
  virtual char* data() = 0;
  virtual size_t data_size() const = 0;

  // call: execute the call described in msg() as operation `op`, serving
  // callbacks through the registered handler, and wait for the reply.
  // Returns: the MPI error code of the reply (results are in msg()/data()).
  // Errors: if the agent dies the process exits 1 with a message; if a
  // posted send failed earlier, the process exits 1 with a message.
  virtual int call(uint32_t op) = 0;

  // set_callback: the handler for callback requests (one per process).
  virtual void set_callback(CallbackFn fn) = 0;

  // post_begin/post_commit: post a small send that needs no answer (see
  // "Posted sends" in docs/protocol.md). post_begin reserves an entry for
  // `bytes` of payload and returns where to write it (the header in *hdr is
  // for the caller to fill); it returns nullptr when the ring is full, and
  // the caller must then make an ordinary call. post_commit publishes the
  // entry reserved last and wakes the agent.
  virtual char* post_begin(size_t bytes, chan::AsyncSend** hdr) = 0;
  virtual void post_commit() = 0;
};

// The process's lower half (phase 1: the agent backend).
LowerHalf& lower_half();

}  // namespace crmpi
