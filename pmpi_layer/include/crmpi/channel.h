// crmpi/channel.h: the shared-memory channel between libcrpmpi (the
// application process) and cr_agent (the real MPI process).
//
// Purpose: one mapping (a memfd created by the agent, inherited by the app as
// the fd named in $CRMPI_CHANNEL_FD) holds one call slot, two futex doorbells
// and an inline payload area. The protocol is strictly request/reply: the app
// fills `msg`, rings `req_seq`; the agent executes and rings `rep_seq`. While
// executing, the agent may send a callback (kind == kCallback), which the app
// answers with op kOpCallbackDone before the agent continues. What a call
// carries is crmpi/protocol.h; docs/protocol.md narrates it.
//
// Thread safety: one call at a time (MPI_THREAD_SERIALIZED at most); the app
// side serialises with a mutex. Signal safety: none of these functions is
// async-signal-safe.
//
// Durability: nothing here is durable. The mapping is detached before a
// checkpoint of the app; all libcrpmpi state lives in ordinary app memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "crmpi/cma.h"
#include "crmpi/protocol.h"

namespace crmpi::chan {

constexpr uint32_t kMagic = 0x504d5243;  // "CRMP"
// 2: typed call arguments (protocol.h); 3: job checkpoint; 4:
// intercommunicators; 5: MPI_Comm_idup (WireStatus::made).
constexpr uint32_t kVersion = 5;
constexpr size_t kDataSize = 1u << 20;       // inline payload area (1 MiB)
// The channel's fd number in the app: the same in every incarnation, so that
// a restarted app finds its new agent's channel where the old one was
// (cr_restart --inherit-fd places it there; the fd is never in an image).
constexpr int kChannelFd = 1000;
constexpr size_t kAsyncSize = 256u << 10;    // ring of posted (unanswered) small sends
constexpr size_t kAsyncMaxPayload =
    4000;  // below the shared-memory eager limit (4 KiB with header)

// Point-to-point wire format (docs/protocol.md, "Wire format"): a payload
// of n bytes travels as n MPI_BYTEs when n < kRndvHeaderBytes, else as n + 1
// (one trailing byte). A message of exactly kRndvHeaderBytes is therefore
// never a payload: it is a RndvHeader.
constexpr size_t kRndvHeaderBytes = 64;
constexpr uint64_t kRndvMagic = 0x56444e52504d5243ull;  // "CRMPRNDV"
inline size_t wire_bytes(size_t n) {
  return n < kRndvHeaderBytes ? n : n + 1;
}

// Rendezvous header: the payload stays in the sender app's memory until the
// receiver's app has copied it (process_vm_readv) and acknowledged it.
struct RndvHeader {
  uint64_t magic;    // kRndvMagic
  uint64_t addr;     // payload address in the sender app
  uint64_t bytes;    // payload size
  int32_t pid;       // sender app
  int32_t world;     // sender's rank in MPI_COMM_WORLD: where the ack goes
  uint32_t ack_tag;  // tag of the ack on the agents' private communicator
  uint32_t reserved;
  uint64_t spare[3];
};
static_assert(sizeof(RndvHeader) == kRndvHeaderBytes);

struct alignas(4096) Shared {
  uint32_t magic;
  uint32_t version;
  int32_t agent_pid;
  int32_t app_pid;
  alignas(64) std::atomic<uint32_t> req_seq;  // app -> agent doorbell (futex word)
  std::atomic<uint32_t> agent_sleeping;
  alignas(64) std::atomic<uint32_t> rep_seq;  // agent -> app doorbell (futex word)
  std::atomic<uint32_t> app_sleeping;
  std::atomic<int32_t> app_cpu;    // CPU the app last waited on (-1: unknown)
  std::atomic<int32_t> agent_cpu;  // CPU the agent last waited on
  // 1 while a job checkpoint wants the app quiescent: application threads
  // start no call (they park in libcrpmpi) until the checkpoint driver is
  // done; the agent sets and clears it.
  std::atomic<uint32_t> hold;
  // Calls posted in `msg` (req_seq also counts posted sends).
  alignas(64) std::atomic<uint32_t> call_seq;
  alignas(64) Msg msg;
  // Posted sends: the app appends entries at async_tail and does not wait;
  // the agent executes them in order, before any later call, and advances
  // async_head. The first failure is kept in async_rc/async_comm.
  alignas(64) std::atomic<uint64_t> async_tail;
  alignas(64) std::atomic<uint64_t> async_head;
  std::atomic<int32_t> async_rc;
  uint64_t async_comm;
  alignas(4096) char async_ring[kAsyncSize];
  alignas(4096) char data[kDataSize];
};

// One posted send in async_ring: header then payload, 64-byte aligned.
// size == 0 marks "wrap to the ring's start".
struct AsyncSend {
  uint32_t size;  // whole entry, header included
  uint32_t pad;
  uint64_t type, count, dest, tag, comm, bytes;
};

// Ring `seq` (increment) and wake its waiter if it sleeps.
void ring(std::atomic<uint32_t>& seq, std::atomic<uint32_t>& sleeping);

// Adaptive spin budget of one waiter: starts at max_ns; halves (down to
// min_ns) each time the peer took longer than the budget (the waiter had to
// sleep, so spinning only stole CPU from the peer), and doubles (up to
// max_ns) when an answer came within the budget but after half of it.
struct Spin {
  long max_ns = 50000;
  long min_ns = 2000;
  long cur_ns = 50000;
  // Where this waiter publishes its CPU, and where the peer publishes its
  // own. When both are on the same CPU, spinning only delays the peer, so
  // the waiter yields at once (the peer needs this very CPU to answer).
  std::atomic<int32_t>* my_cpu = nullptr;
  const std::atomic<int32_t>* peer_cpu = nullptr;
};


// Wait until `seq` differs from `seen`. Spins for up to spin.cur_ns, yielding
// the CPU, then sleeps on the futex. Returns the new value. If `alive` is
// non-null it is called after every timed futex sleep; when it returns false
// the wait gives up and returns `seen`.
uint32_t wait_change(std::atomic<uint32_t>& seq, std::atomic<uint32_t>& sleeping, uint32_t seen,
                     Spin& spin, bool (*alive)());

}  // namespace crmpi::chan
