// lower_half.h: how libcrpmpi executes MPI calls.
//
// libcrpmpi's wrappers never call an MPI library themselves: they describe
// *what* to execute -- an operation, its typed arguments (crmpi/protocol.h),
// where its buffers are, and any payload small enough to travel with it --
// and hand that description to the LowerHalf. *How* it travels is the
// backend's business. Phase 1's backend is AgentLowerHalf (lh_agent.cpp),
// which ships the call to cr_agent over the shared-memory channel
// (crmpi/channel.h); a later phase may add an in-process backend behind the
// same interface, leaving every layer above unchanged. A restart (next
// issue) detaches and re-attaches it.
//
// A call goes: `Call& c = lh.begin(op)`; fill c.a (the operation's argument
// struct), c.src/c.dst/c.extra (buffer descriptors) and c.arena (inline
// payloads); `rc = lh.execute(c)`; read the results from c.a and c.arena.
// The Call belongs to the backend and is lent until the next begin(): the
// agent backend's Call *is* the channel's call slot and inline area, so
// describing a call copies nothing.
//
// Thread safety: none of these functions may run concurrently, and only one
// Call is in use at a time; libcrpmpi serialises them with its recursive
// mutex (crmpi::Lock), which is what limits the thread level to
// MPI_THREAD_SERIALIZED.
// Signal safety: none is async-signal-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crmpi/protocol.h"
#include "typemap.h"

namespace crmpi {

// Arena: the inline payload storage of one call (both directions), bump
// allocated in 64-byte aligned pieces. Buf::off values of kInline buffers are
// offsets into it.
struct Arena {
  char* data = nullptr;
  size_t used = 0, cap = 0;
  // alloc: reserve n bytes (and one more: the agent appends the
  // point-to-point wire trailer in place, docs/protocol.md "Wire format").
  // Returns: the offset in data, or SIZE_MAX if it does not fit (the caller
  // then describes the buffer by address instead, kCma).
  size_t alloc(size_t n);
  char* at(uint64_t off) const { return data + off; }
};

// Call: one operation to execute, lent by the backend (LowerHalf::begin).
// `a`, `src`, `dst` and `extra` are the protocol's vocabulary (protocol.h);
// `arena` holds inline payloads and arrays, and inline results after
// execute(). While a callback is served (LowerHalf::CallbackFn) the same
// Call describes the callback; the backend restores the call's own
// arguments before execute() returns.
class Call {
 public:
  Call(chan::Msg& m, char* arena, size_t cap)
      : a(m.a), src(m.src), dst(m.dst), extra(m.extra), arena{arena, 0, cap}, m_(m) {}
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  chan::Args& a;     // the operation's arguments, then its results
  chan::Buf& src;    // source buffer
  chan::Buf& dst;    // destination buffer
  chan::Buf& extra;  // operation specific (collective count/displacement arrays)
  Arena arena;       // inline payloads

  uint32_t op() const { return m_.op; }
  // What a callback asks (chan::CallbackKind); meaningful inside a CallbackFn.
  uint64_t callback() const { return m_.callback; }

 private:
  chan::Msg& m_;  // the storage the references above point into
};

// Payload: `count` elements laid out by `tm` at `buf`, as they travel:
// packed (derived types) or raw, `bytes` long (payload_bytes in api.h).
struct Payload {
  const void* buf;
  int count;
  const TypeMap* tm;
  bool packed;
  size_t bytes;
  // write: copy the payload to `out` (bytes long) as it travels.
  void write(char* out) const;
};

class LowerHalf {
 public:
  // A callback request from the lower half while it executes a call (user
  // reduction ops, rendezvous pulls). `c` describes it: c.callback() says
  // what it asks, c.a holds its arguments, c.dst/c.arena where its data go.
  // The handler writes its results in c.a and returns.
  using CallbackFn = void (*)(Call& c);

  virtual ~LowerHalf() = default;

  // attach: connect to the backend (agent: map the channel named by
  // $CRMPI_CHANNEL_FD and check its magic/version).
  // Returns: true on success; false if there is no channel or it is invalid
  // (a message on stderr says why). Called once, from MPI_Init.
  virtual bool attach() = 0;

  // detach: disconnect (agent: unmap the channel). Every later call that
  // needs the lower half prints "called after MPI_Finalize" and exits 1.
  // Called from MPI_Finalize, and by a checkpoint before the capture (next
  // issue). Any Call lent earlier is invalid afterwards.
  virtual void detach() = 0;

  // begin: start describing operation `op` (chan::Op).
  // Returns: the Call to fill, with an empty arena; its buffer descriptors
  // and arguments hold whatever the previous call left (set what the
  // operation reads). Valid until the next begin() or detach().
  // Errors: exits 1 with a message if the lower half is not attached (an MPI
  // function called before MPI_Init or after MPI_Finalize).
  virtual Call& begin(uint32_t op) = 0;

  // execute: execute `c` (the Call the last begin() lent), serving
  // callbacks through the registered handler, and wait for the result.
  // Returns: the MPI error code; results are in c.a and c.arena.
  // Errors: if the backend dies the process exits 1 with a message; if a
  // posted send failed earlier, the process exits 1 with a message.
  virtual int execute(Call& c) = 0;

  // set_callback: the handler for callback requests (one per process).
  virtual void set_callback(CallbackFn fn) = 0;

  // ---- job checkpoint (pmpi_layer/src/ckpt.cpp)
  // hold: true while the backend asks application threads to start no call
  // (a job checkpoint wants this process quiescent); false when not
  // attached.
  virtual bool hold() const = 0;
  // suspend: forget the backend's memory for a capture (agent: unmap the
  // channel; its fd, excluded from images, stays open).  Calls fail until
  // resume().
  virtual void suspend() = 0;
  // resume: attach again after a capture: to the same backend (continue),
  // or to the new one of a restarted job (its channel is at the same fd).
  // Returns: true on success; false with a message on stderr.
  virtual bool resume() = 0;

  // post_send: send `payload` as described by `a` (type, count, dest, tag,
  // comm; a standard or buffered send the caller has validated) without
  // waiting for it (docs/protocol.md, "Posted sends"): the payload is copied
  // before post_send returns, so the buffer is reusable, and the send is
  // executed before any later call, in order.
  // Returns: true if posted; false if the backend cannot post this send (too
  // large, no room now): the caller must then execute an ordinary send.
  // Errors: a failure of the send itself is reported, fatally, by the next
  // execute() (its caller has long returned).
  virtual bool post_send(const chan::SendArgs& a, const Payload& payload) = 0;
};

// The process's lower half (phase 1: the agent backend).
LowerHalf& lower_half();

}  // namespace crmpi
