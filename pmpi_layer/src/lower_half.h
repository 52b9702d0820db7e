// LowerHalf: how libcrpmpi executes MPI calls. Phase 1's backend is the agent
// (AgentLowerHalf, lh_agent.cpp) over the shared-memory channel. A later phase
// may add an in-process backend without touching the layers above.
//
// Use: msg() returns the call slot to fill; data() the inline payload area;
// call() executes the call, serving callbacks (user reduction ops) through
// the registered handler, and returns the reply's MPI error code.
#pragma once

#include <cstddef>

#include "crmpi/channel.h"

namespace crmpi {

class LowerHalf {
 public:
  using CallbackFn = void (*)(chan::Msg& m, char* data);
  virtual ~LowerHalf() = default;
  virtual bool attach() = 0;  // connect to the backend; false if impossible
  virtual void detach() = 0;
  virtual chan::Msg& msg() = 0;
  virtual char* data() = 0;
  virtual size_t data_size() const = 0;
  virtual int call(uint32_t op) = 0;
  virtual void set_callback(CallbackFn fn) = 0;
  // Post a small send that needs no answer: returns where to put `bytes` of
  // payload (and fills *hdr), or nullptr if the ring is full (then use a
  // normal call). post_commit() publishes it.
  virtual char* post_begin(size_t bytes, chan::AsyncSend** hdr) = 0;
  virtual void post_commit() = 0;
};

LowerHalf& lower_half();

}  // namespace crmpi
