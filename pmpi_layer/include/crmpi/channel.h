// crmpi/channel.h: the shared-memory channel between libcrpmpi (the
// application process) and cr_agent (the real MPI process).
//
// Purpose: one mapping (a memfd created by the agent, inherited by the app as
// the fd named in $CRMPI_CHANNEL_FD) holds one call slot, two futex doorbells
// and an inline payload area. The protocol is strictly request/reply: the app
// fills `msg`, rings `req_seq`; the agent executes and rings `rep_seq`. While
// executing, the agent may send a callback (kind == kCallback), which the app
// answers with op kOpCallbackDone before the agent continues. docs/protocol.md
// describes every op and its arguments.
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

namespace crmpi::chan {

constexpr uint32_t kMagic = 0x504d5243;  // "CRMP"
constexpr uint32_t kVersion = 1;
constexpr size_t kDataSize = 1u << 20;       // inline payload area (1 MiB)
constexpr uint64_t kBytesType = 1ull << 63;  // wire type: "element of N packed bytes"
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

// What a kCallback asks of the app, in Msg::a[23].
enum CallbackKind : uint64_t {
  kCbUserOp = 0,  // a0 app op, a1 app type, a2 count; data: invec, inoutvec
  kCbPull = 1,    // a0 pid, a1 address, a2 bytes; b1 target -> a3 = 1 if copied
};

// Where a buffer's bytes travel. INLINE: at data[off]; CMA: at addr in the
// app, read/written by the agent with process_vm_readv/writev.
enum BufMode : uint32_t { kNone = 0, kInline = 1, kCma = 2, kInPlace = 3 };

struct Buf {
  uint64_t addr;     // address in the app process (CMA) or 0
  uint64_t bytes;    // size in bytes (capacity for destinations)
  uint64_t off;      // offset in data[] (INLINE)
  uint32_t mode;     // BufMode
  uint32_t prefill;  // destination: agent must start from the app's current contents
};

enum Op : uint32_t {
  kOpHello = 1,
  kOpFinalize,
  kOpAbort,
  kOpErrorString,
  kOpCallbackDone,
  kOpSend,
  kOpRecv,
  kOpIsend,
  kOpIrecv,
  kOpProbe,
  kOpIprobe,
  kOpSendrecv,
  kOpComplete,
  kOpCancel,
  kOpRequestFree,
  kOpBsendFlush,
  kOpColl,
  kOpCommDup,
  kOpCommSplit,
  kOpCommSplitType,
  kOpCommCreate,
  kOpCommCreateGroup,
  kOpCommFree,
  kOpOpCreate,
  kOpOpFree,
  kOpErrorClass,
  kOpMprobe,
  kOpMrecv,
  kOpImrecv,
  kOpMax
};

enum Kind : uint32_t { kReply = 0, kCallback = 1 };

// Send modes for kOpSend/kOpIsend.
enum SendMode : uint64_t { kStandard = 0, kSync = 1, kReady = 2, kBuffered = 3 };

// Completion kinds for kOpComplete.
enum CompleteKind : uint64_t {
  kWait,
  kTest,
  kWaitany,
  kTestany,
  kWaitall,
  kTestall,
  kWaitsome,
  kTestsome,
  kGetStatus  // MPI_Request_get_status: like kTest, but the request stays
};

// Collective kinds for kOpColl.
enum CollKind : uint64_t {
  kBarrier,
  kBcast,
  kReduce,
  kAllreduce,
  kScan,
  kExscan,
  kReduceScatterBlock,
  kReduceScatter,
  kGather,
  kGatherv,
  kScatter,
  kScatterv,
  kAllgather,
  kAllgatherv,
  kAlltoall,
  kAlltoallv,
  kAlltoallw,
  kReduceLocal,  // MPI_Reduce_local: b[0] in, b[1] inout (prefilled), a[5] count  // b[2] also
                 // holds n send then n receive wire types (u64) after the int arrays
  kCollKinds
};

// Status as Open MPI lays it out (same mpi.h on both sides).
struct WireStatus {
  int source, tag, error, cancelled;
  uint64_t ucount;
};

struct Msg {
  uint32_t op;
  int32_t rc;     // reply: MPI error code
  uint32_t kind;  // Kind
  uint32_t nargs;
  uint64_t a[24];  // op arguments / results (see docs/protocol.md)
  Buf b[3];        // b[0] source, b[1] destination, b[2] op specific
};

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

// Copy n bytes between `local` and `remote` in process `pid` (CMA:
// process_vm_readv, or process_vm_writev when `write`), resuming after
// partial transfers. Returns false (errno set) if the copy stops short.
bool vm_copy(int pid, bool write, uint64_t remote, void* local, size_t n);

// Wait until `seq` differs from `seen`. Spins for up to spin.cur_ns, yielding
// the CPU, then sleeps on the futex. Returns the new value. If `alive` is
// non-null it is called after every timed futex sleep; when it returns false
// the wait gives up and returns `seen`.
uint32_t wait_change(std::atomic<uint32_t>& seq, std::atomic<uint32_t>& sleeping, uint32_t seen,
                     Spin& spin, bool (*alive)());

}  // namespace crmpi::chan
