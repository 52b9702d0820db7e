// crmpi/protocol.h: what one call between libcrpmpi and its lower half
// carries -- the operations, and for each one a named argument struct.
//
// A call is a Msg: an operation, a return code, up to three buffer
// descriptors (Buf: where bytes are), and the operation's arguments in a
// union of fixed-size structs (Args).  Results overwrite the same struct
// (its "out" fields).  This header and its two endpoints (libcrpmpi's
// pmpi_layer/src and the agent's pmpi_layer/agent) are the only places that
// know the layout; docs/protocol.md narrates it.
//
// Rules: every struct is made of uint64_t words (handles are pointer-sized:
// Open MPI's handles are pointers), fits in Args (kArgWords words), and its
// size is asserted below.  A change of any layout bumps chan::kVersion.
//
// Thread safety / signal safety: plain data.
#pragma once

#include <cstddef>
#include <cstdint>

namespace crmpi::chan {

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
  // The job checkpoint (docs/protocol.md, "Checkpoint calls"): made by
  // libcrpmpi's checkpoint driver only.
  kOpCkptQuiesced,     // the app is quiescent: drain with the job, settle requests (long)
  kOpCkptPeekMessage,  // the next drained message's envelope and size
  kOpCkptTakeMessage,  // ... and its payload into dst; removes it
  kOpCkptResume,       // after the capture (or an abandoned one): serve normally again
  kOpCommRebuild,      // restart: a communicator from its members, with its id and count
  kOpCkptRequest,      // the application asks for a job checkpoint (crmpi_ext.h)
  // Intercommunicators (issue 11): out CommOut, like the other creations.
  kOpIntercommCreate,  // IntercommArgs
  kOpIntercommMerge,   // CommArgs: parent (the intercomm), color = high
  kOpCommLive,         // restart: which communicators every member still holds (CommLiveArgs)
  kOpCommIdup,         // CommArgs; out RequestArgs: MPI_Comm_idup (WireStatus::made at completion)
  kOpMax
};

// Msg::rc of a blocking call the agent paused for a job checkpoint: nothing
// of it happened (a receive, probe, wait or collective: make it again once
// the checkpoint is over), except for kRcPausedSent: a send that had
// started, which the job's drain completes (return success afterwards).
// Outside MPI's error codes.
inline constexpr int32_t kRcPaused = 0x43505000;      // "CPP\0"
inline constexpr int32_t kRcPausedSent = 0x43505001;

enum Kind : uint32_t { kReply = 0, kCallback = 1 };

// What a kCallback asks of the app (Msg::callback).
enum CallbackKind : uint64_t {
  kCbUserOp = 0,  // Args::user_op
  kCbPull = 1,    // Args::pull
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
static_assert(sizeof(Buf) == 32);

// Send modes (SendArgs::mode).
enum SendMode : uint64_t { kStandard = 0, kSync = 1, kReady = 2, kBuffered = 3 };

// Completion kinds (CompleteArgs::kind).
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

// Collective kinds (CollArgs::kind).
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
  kReduceLocal,  // src in, dst inout (prefilled), scount elements
  kCollKinds
};

// Status as Open MPI lays it out (same mpi.h on both sides).
struct WireStatus {
  int source, tag, error, cancelled;
  uint64_t ucount;
  uint64_t made;  // a communicator the completion made (kOpCommIdup's), else 0
};

// Wire type of an element of n packed bytes: kBytesType | n.
inline constexpr uint64_t kBytesType = 1ull << 63;

// ------------------------------------------------------------ arguments
// Datatypes travel as wire types: the agent's own handle of a predefined
// type, or kBytesType | n ("an element of n packed bytes").  Communicators,
// ops, requests and messages travel as the agent's handle values.

// A status result (receives, probes), in bytes of payload.
struct StatusOut {
  uint64_t source, tag, error, ucount, cancelled;
};

// Hello: the app's first call.  Data out: the predefined handle table, 5
// int64 facts per handle, the processor name (see docs/protocol.md).
struct HelloArgs {
  uint64_t required;  // thread level
};
struct HelloOut {
  uint64_t rank, size;
  uint64_t world, self;  // the agent's MPI_COMM_WORLD and MPI_COMM_SELF
  uint64_t tag_ub, wtime_global, universe, appnum, host, io, lastusedcode;
  uint64_t npredefined;  // handles in the table that follows in data
  uint64_t version;      // MPI version * 100 + subversion
};

struct AbortArgs {
  uint64_t comm, code;
};

// ErrorString (data out: the text) and ErrorClass (error_class out).
struct ErrorArgs {
  uint64_t code, error_class;
};

// Send / Isend.  src: the payload (packed).  Isend: RequestOut.
struct SendArgs {
  uint64_t type, count, dest, tag, comm;
  uint64_t mode;        // SendMode
  uint64_t rndv;        // 1: may go by rendezvous (src is CMA and stays put)
  uint64_t dest_world;  // dest's rank in MPI_COMM_WORLD (rendezvous)
};

// Recv / Irecv.  dst: where the payload goes.  Irecv: RequestOut.
struct RecvArgs {
  uint64_t type, count, source, tag, comm;
  uint64_t unused[5];
  StatusOut status;  // out
};

// Probe / Iprobe / Mprobe.
struct ProbeArgs {
  uint64_t source, tag, comm;
  uint64_t blocking;  // Mprobe only
  uint64_t unused[4];
  uint64_t message;  // out (Mprobe): the agent's message handle
  uint64_t flag;     // out
  StatusOut status;  // out
};

// Mrecv / Imrecv.  dst: where the payload goes.  Imrecv: RequestOut.
struct MrecvArgs {
  uint64_t type, count;
  uint64_t unused[6];
  uint64_t message;
  uint64_t unused2;
  StatusOut status;  // out
};

// Sendrecv.  src: the send payload; dst: the receive buffer.
struct SendrecvArgs {
  uint64_t stype, scount, dest, stag, comm;
  uint64_t unused;
  uint64_t rtype, rcount, source, rtag;
  StatusOut status;  // out
};

// Complete.  Data in: n request ids (0: null); out, after them: n statuses,
// n inline offsets (-1: delivered by CMA or nothing), n done flags, payloads.
struct CompleteArgs {
  uint64_t kind;  // CompleteKind
  uint64_t n;
  uint64_t index, outcount, flag;  // out
};

// Cancel / RequestFree; and the "out" of every nonblocking call.
struct RequestArgs {
  uint64_t request;
};

// Coll.  src, dst: the buffers; extra: int32 arrays scounts, sdispls,
// rcounts, rdispls (alltoallw: then 2n wire types).  Nonblocking:
// RequestArgs out.
struct CollArgs {
  uint64_t kind;  // CollKind
  uint64_t comm, stype, scount, rtype, rcount, root, op;
  uint64_t nonblocking;
  uint64_t user_op;   // the app's op handle (0: none)
  uint64_t app_type;  // the app's datatype handle (user ops)
  uint64_t comm_size;
};

// The job-unique id of a communicator made from `parent` (its id) as the
// parent's `counter`-th creation, whose lowest member has world rank
// `lowest`: all members compute it alone, and the agent too (CommOut::id).
// MPI_COMM_WORLD is 1 and MPI_COMM_SELF 2.
inline uint64_t comm_id(uint64_t parent, uint64_t counter, uint64_t lowest) {
  uint64_t x = parent * 0x9e3779b97f4a7c15ull ^ (counter + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull ^
               (lowest + 0x85ebca6b) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  x *= 0xd6e8feb86659fd93ull;
  x ^= x >> 32;
  return x < 16 ? x + 16 : x;  // never a predefined id
}

// CommDup / CommSplit / CommSplitType / CommCreate / CommCreateGroup.
// CommCreate(Group) data in: the members' world ranks.  Out: CommOut, data:
// the world rank of each member.
// Every creation but CreateGroup is a collective of the parent and counts
// in its collective sequence (the checkpoint's safe point).
struct CommArgs {
  uint64_t parent;
  uint64_t color;  // Split: color; SplitType: split type; CreateGroup: member count
  uint64_t key;    // Split(Type): key; CreateGroup: tag
  uint64_t parent_id, counter;  // for comm_id()
};
// An intercommunicator's data holds its local group's world ranks, then its
// remote group's (remote_size of them; 0 for an intracommunicator).  Its
// `lowest` for comm_id() is the lowest world rank of both groups, which
// both groups know.
struct CommOut {
  uint64_t comm;  // 0: MPI_COMM_NULL
  uint64_t size, rank;
  uint64_t id;           // comm_id() of the new communicator
  uint64_t remote_size;  // intercommunicators (overlaps CommArgs::counter: read it first)
};

// IntercommCreate: MPI_Intercomm_create(local, local_leader, peer (0 where
// not significant), remote_leader, tag).  Collective over both groups; it
// counts in `local`'s collective sequence.  The new id: each group computes
// comm_id(local_id, counter, lowest local world rank), the two groups
// exchange theirs over the new intercommunicator, and both take
// comm_id(min, max, kIntercommSalt).  Out: CommOut.
struct IntercommArgs {
  uint64_t local, local_leader, peer, remote_leader, tag;
  uint64_t local_id, counter;
};
inline constexpr uint64_t kIntercommSalt = 0x1c7e;

// CommRebuild (restart): data in: `size` world ranks, in rank order.  The
// agent makes the communicator of those members (MPI_Comm_create_group on
// MPI_COMM_WORLD; members call it in increasing id order) and records its
// id and collective count.  Out: CommOut.
// An intercommunicator: `remote_size` world ranks of its remote group follow
// the local group's; the agent makes the local group's communicator, then
// MPI_Intercomm_create over MPI_COMM_WORLD between the two groups' first
// members (tag from the id).
struct CommRebuildArgs {
  uint64_t id, seq, size;
  uint64_t remote_size;
};

// CommLive (restart, before the rebuilds; collective over MPI_COMM_WORLD):
// data in: n pairs (id, member count of both groups) of the communicators
// this rank holds; out, in their place: n words, 1 if every member holds
// that id (then it can be rebuilt), else 0 (some member freed it before the
// checkpoint: nobody may communicate on it any more, only free it).
struct CommLiveArgs {
  uint64_t n;
};

// CkptQuiesced: out `status` 0, or an errno when the job abandoned the
// checkpoint (the app then continues without a capture); `messages`: how
// many drained messages wait for Peek/Take.
struct CkptArgs {
  uint64_t status, messages;
  uint64_t epoch;
  uint64_t after;  // CkptRequest in: coord::After (0 continue, 3 kill)
};

// CkptPeekMessage / CkptTakeMessage: the oldest drained message. Take: dst
// receives the payload (bytes as sent: packed for derived types).
struct CkptMessageArgs {
  uint64_t comm;  // the agent's communicator handle
  uint64_t source, tag, bytes;
};

struct CommFreeArgs {
  uint64_t comm;
};

// OpCreate: OpCreateArgs in, OpArgs out.  OpFree: OpArgs in.
struct OpCreateArgs {
  uint64_t commute;
};
struct OpArgs {
  uint64_t op;
};

// Callback kCbUserOp: run the app's op on vectors in the agent's memory.
struct UserOpCallback {
  uint64_t app_op, app_type, count;
  uint64_t agent_pid;
  uint64_t invec, inoutvec;  // addresses in the agent
  uint64_t elem_bytes;       // packed element size
  uint64_t done;             // out: 1 when the result was written back
};

// Callback kCbPull: copy `bytes` at `addr` of process `pid` into dst.
struct PullCallback {
  uint64_t pid, addr, bytes;
  uint64_t copied;  // out: 1 on success
};

inline constexpr size_t kArgWords = 24;

union Args {
  uint64_t raw[kArgWords];  // for copying and fuzzing only
  HelloArgs hello;
  HelloOut hello_out;
  AbortArgs abort;
  ErrorArgs error;
  SendArgs send;
  RecvArgs recv;
  ProbeArgs probe;
  MrecvArgs mrecv;
  SendrecvArgs sendrecv;
  CompleteArgs complete;
  RequestArgs request;
  CollArgs coll;
  CommArgs comm;
  CommOut comm_out;
  IntercommArgs intercomm;
  CommLiveArgs comm_live;
  CommRebuildArgs comm_rebuild;
  CkptArgs ckpt;
  CkptMessageArgs ckpt_msg;
  CommFreeArgs comm_free;
  OpCreateArgs op_create;
  OpArgs op;
  UserOpCallback user_op;
  PullCallback pull;
};

#define CRMPI_ARGS_FIT(T) \
  static_assert(sizeof(T) <= sizeof(uint64_t) * kArgWords && sizeof(T) % 8 == 0, #T)
CRMPI_ARGS_FIT(HelloOut);
CRMPI_ARGS_FIT(SendArgs);
CRMPI_ARGS_FIT(RecvArgs);
CRMPI_ARGS_FIT(ProbeArgs);
CRMPI_ARGS_FIT(MrecvArgs);
CRMPI_ARGS_FIT(SendrecvArgs);
CRMPI_ARGS_FIT(CollArgs);
CRMPI_ARGS_FIT(UserOpCallback);
#undef CRMPI_ARGS_FIT
static_assert(sizeof(HelloOut) == 13 * 8 && sizeof(SendArgs) == 8 * 8 &&
              sizeof(RecvArgs) == 15 * 8 && sizeof(ProbeArgs) == 15 * 8 &&
              sizeof(MrecvArgs) == 15 * 8 && sizeof(SendrecvArgs) == 15 * 8 &&
              sizeof(CompleteArgs) == 5 * 8 && sizeof(CollArgs) == 12 * 8 &&
              sizeof(CommArgs) == 5 * 8 && sizeof(CommOut) == 5 * 8 &&
              sizeof(IntercommArgs) == 7 * 8 &&
              sizeof(CommRebuildArgs) == 4 * 8 && sizeof(CkptArgs) == 4 * 8 &&
              sizeof(CkptMessageArgs) == 4 * 8 && sizeof(UserOpCallback) == 8 * 8 &&
              sizeof(PullCallback) == 4 * 8);
// Status results sit at the same place for every call that has one, so that
// one reader (status_from_msg) serves them all.
static_assert(offsetof(RecvArgs, status) == offsetof(ProbeArgs, status) &&
              offsetof(RecvArgs, status) == offsetof(MrecvArgs, status) &&
              offsetof(RecvArgs, status) == offsetof(SendrecvArgs, status));

struct Msg {
  uint32_t op;    // Op
  int32_t rc;     // reply: MPI error code
  uint32_t kind;  // Kind
  uint32_t nargs;
  uint64_t callback;  // CallbackKind, with kind == kCallback
  Args a;             // the operation's arguments / results
  Buf src;            // source buffer
  Buf dst;            // destination buffer
  Buf extra;          // operation specific (collective arrays)
};
static_assert(sizeof(Msg) == 24 + kArgWords * 8 + 3 * sizeof(Buf));

}  // namespace crmpi::chan
