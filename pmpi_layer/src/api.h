// libcrpmpi internals shared by the per-family wrapper files (api_*.cpp).
//
// Virtual handles: every handle the application creates is a pointer to one
// of the V* records below, allocated in ordinary app memory. Each starts with
// a magic word, which tells it apart from a predefined Open MPI handle (an
// address inside the app's never-initialised libmpi, translated by identity
// through g.predef_index). Each record keeps how it was created (`rec`) so a
// later restart can replay it in a fresh MPI.
#pragma once

#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <deque>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "crmpi/cma.h"
#include "lower_half.h"
#include "typemap.h"

#define CRMPI_API extern "C" __attribute__((visibility("default")))

// The MPI name of the enclosing PMPI_ function, for error messages: "MPI_Send"
// inside PMPI_Send. The compiler spells it from the function's own name
// (__func__ without its "P"), so no wrapper can report another function's
// name; outside a PMPI_ function (a helper, a lambda) it does not compile, so
// helpers take the name from their caller. The generated stubs use it too.
#define CRMPI_NAME                                                                   \
  (__extension__({                                                                   \
    static_assert(__func__[0] == 'P' && __func__[1] == 'M' && __func__[2] == 'P' &&  \
                      __func__[3] == 'I' && __func__[4] == '_',                      \
                  "CRMPI_NAME is only meaningful directly inside a PMPI_ function"); \
    static_cast<const char*>(__func__ + 1);                                          \
  }))

namespace crmpi {

[[noreturn]] void unsupported(const char* name);
[[noreturn]] void fatal(const char* fmt, ...);

enum : uint64_t {
  kMagicComm = 0x43524d50436f6d6dull,
  kMagicGroup = 0x43524d5047727570ull,
  kMagicType = 0x43524d5054797065ull,
  kMagicOp = 0x43524d50204f7020ull,
  kMagicReq = 0x43524d5052657120ull,
  kMagicErrh = 0x43524d5045727268ull,
  kMagicInfo = 0x43524d50496e666full,
};

template <class H>
inline bool is_virtual(H h, uint64_t magic) {
  return h && *reinterpret_cast<const uint64_t*>(h) == magic;
}

// How a communicator was made: enough to replay it after a restart.
struct CommRecord {
  enum How {
    kWorld,
    kSelf,
    kDup,
    kSplit,
    kSplitType,
    kCreate,
    kCreateGroup,
    kCart,
    kGraph,
    kCartSub,
    kInterCreate,  // MPI_Intercomm_create (api_intercomm.cpp)
    kInterMerge    // MPI_Intercomm_merge
  } how;
  uint64_t parent_id = 0;
  int color = 0, key = 0, tag = 0;
  std::vector<int> group;  // world ranks, for create/create_group
};

struct Topo {
  int kind = MPI_UNDEFINED;  // MPI_CART, MPI_GRAPH, MPI_DIST_GRAPH
  std::vector<int> dims, periods;
  std::vector<int> index, edges;
  std::vector<int> sources, destinations, sweights, dweights;  // distributed graph
  bool weighted = false;
};

struct Attrs {
  std::map<int, void*> values;
  // When each attribute was last set: deletion runs in reverse order of it
  // (MPI-3.1 8.7.1 for MPI_COMM_SELF; Open MPI does so on every object).
  std::map<int, uint64_t> set_seq;
};

struct VComm {
  uint64_t magic = kMagicComm;
  uint64_t real = 0;       // lower-half handle (agent's MPI_Comm)
  uint64_t id = 0;         // job-unique, agreed by all members without messages
  uint64_t creations = 0;  // communicators derived from this one so far
  int rank = 0, size = 0;
  std::vector<int> world;  // world rank of each member (the local group)
  // An intercommunicator's remote group (world ranks, in rank order); empty
  // for an intracommunicator (a remote group is never empty).
  std::vector<int> remote;
  bool inter() const { return !remote.empty(); }
  // The group point-to-point ranks and collective blocks name: the remote
  // group of an intercommunicator, else the communicator's own.
  const std::vector<int>& peers() const { return remote.empty() ? world : remote; }
  int peer_size() const { return static_cast<int>(peers().size()); }
  std::string name;
  MPI_Errhandler errh = MPI_ERRORS_ARE_FATAL;
  Attrs attrs;
  Topo topo;
  MPI_Comm shadow = MPI_COMM_NULL;  // private dup for neighbour collectives
  std::vector<std::pair<std::string, std::string>> hints;  // MPI_Comm_set_info (api_comm.cpp)
  CommRecord rec{CommRecord::kWorld};
  // Accounting: collectives entered (the job checkpoint's safe point; the
  // agent counts them too), point-to-point messages sent and received.
  uint64_t coll_seq = 0, sent = 0, recvd = 0;
  // MPI_Comm_free marks a communicator for deallocation: operations pending
  // on it complete normally (MPI-3.1 6.4.3).  `requests` counts the
  // requests that name it; while there are any, a freed one (`freed`: its
  // handle is invalid) stays, with its lower half, for them -- and for a
  // checkpoint, which may re-post their receives or rebuild it.
  uint64_t requests = 0;
  bool freed = false;
};

struct VGroup {
  uint64_t magic = kMagicGroup;
  std::vector<int> world;  // world ranks; groups live entirely in the app
};

struct VType {
  uint64_t magic = kMagicType;
  TypeMap tm;
  int combiner = MPI_COMBINER_NAMED;
  std::vector<int> ints;
  std::vector<MPI_Aint> aints;
  std::vector<MPI_Datatype> types;
  bool committed = false;
  std::string name;
  Attrs attrs;
  // Holders: the app's handle, each type built from it (MPI lets the app
  // free a type that others are built from; get_contents returns it again),
  // and each pending operation that uses it (TypeRef; MPI-3.1 4.1.9: they
  // complete normally after MPI_Type_free).  The last one frees the record.
  int refs = 1;
};

// A pending operation's hold on a derived type (api_req.cpp): the record,
// and so the typemap its receive unpacks with, outlives MPI_Type_free.
struct TypeRef {
  TypeRef() = default;
  TypeRef(const TypeRef&) = delete;
  TypeRef& operator=(const TypeRef&) = delete;
  ~TypeRef() { reset(); }
  void hold(MPI_Datatype t);  // predefined types need no hold
  void reset();

 private:
  VType* v_ = nullptr;
};

struct VOp {
  uint64_t magic = kMagicOp;
  MPI_User_function* fn = nullptr;
  int commute = 1;
  uint64_t real = 0;
  // The app's handle, plus each pending nonblocking collective that calls
  // it: MPI_Op_free may come before their completion (MPI-3.1 5.9.5).
  int refs = 1;
};
// Drops one reference to a user op; the last one deletes it (api_op.cpp).
void op_release(VOp* v);

struct VErrh {
  uint64_t magic = kMagicErrh;
  MPI_Comm_errhandler_function* fn = nullptr;
};

struct VInfo {
  uint64_t magic = kMagicInfo;
  std::vector<std::pair<std::string, std::string>> kv;  // in the order first set
};

struct Keyval {
  MPI_Comm_copy_attr_function* copy = nullptr;
  MPI_Comm_delete_attr_function* del = nullptr;
  MPI_Type_copy_attr_function* tcopy = nullptr;
  MPI_Type_delete_attr_function* tdel = nullptr;
  void* extra = nullptr;
  bool for_type = false;
  // MPI_*_free_keyval: no new attributes, but the callbacks still run for
  // the attributes already set (MPI-3.1 6.7.2).
  bool freed = false;
};

// Where received bytes go once the lower half delivers them.
struct Dest {
  void* user = nullptr;  // user buffer
  int count = 0;
  const TypeMap* tm = nullptr;  // non-null: derived, unpack from tmp
  std::vector<char> tmp;        // packed bytes (derived types)
  chan::Buf wire{};
};

// How a nonblocking collective was posted: enough to post it again in a
// fresh MPI (arguments as the app gave them; arrays copied).
struct CollRecord {
  int kind = -1;     // chan::CollKind; -1: not a collective
  uint64_t seq = 0;  // its number on the communicator (VComm::coll_seq after posting)
  const void* sbuf = nullptr;
  void* rbuf = nullptr;
  int scount = 0, rcount = 0, root = 0;
  MPI_Datatype stype = MPI_DATATYPE_NULL, rtype = MPI_DATATYPE_NULL;
  MPI_Op op = MPI_OP_NULL;
  std::vector<int> scounts, sdispls, rcounts, rdispls;
  std::vector<MPI_Datatype> stypes, rtypes;  // alltoallw
};

// A generalized request (MPI_Grequest_start, api_req.cpp): the user's
// callbacks, and whether MPI_Grequest_complete / MPI_Request_free came.
struct GReq {
  MPI_Grequest_query_function* query = nullptr;
  MPI_Grequest_free_function* free = nullptr;
  MPI_Grequest_cancel_function* cancel = nullptr;
  void* extra = nullptr;
  bool complete = false, user_freed = false;
};

struct VRequest {
  VRequest();  // registers in g.requests (the checkpoint settles them)
  ~VRequest();
  VRequest(const VRequest&) = delete;
  VRequest& operator=(const VRequest&) = delete;
  uint64_t magic = kMagicReq;
  uint64_t real = 0;        // lower-half request (0: inactive, or complete locally)
  bool local_done = false;  // a posted send: complete as soon as posted
  enum Kind { kSend, kRecv, kColl, kDone } kind = kSend;
  VComm* comm = nullptr;
  Dest dst;
  std::vector<char> packed;     // packed receive buffer (alltoallw); packed rendezvous send
  std::function<void()> after;  // unpacking to run at completion
  const TypeMap* tm = nullptr;  // recv datatype, for MPI_Get_count
  MPI_Datatype type = MPI_DATATYPE_NULL;
  TypeRef type_ref;  // holds `type` (derived) while the request may use it
  bool derived = false;
  // How the operation was posted (p2p, persistent or not): what MPI_Start
  // re-posts, and what a restart will re-post for a pending receive.
  bool persistent = false;
  int pmode = 0;  // 0 none, else 1 + send mode, or -1 recv
  const void* pbuf = nullptr;
  int pcount = 0, ppeer = 0, ptag = 0;
  MPI_Status done_status{};  // for completed-but-not-yet-reported (e.g. Bsend)
  bool has_status = false;   // local_done with done_status (settled by a checkpoint)
  CollRecord coll;           // nonblocking collectives
  // Job checkpoint (ckpt.cpp): when it was posted (re-posts keep that
  // order), and whether a checkpoint cancelled it so it must be posted again.
  uint64_t post_seq = 0;
  bool repost = false;
  GReq* greq = nullptr;  // generalized requests only (owned)
  VComm* made = nullptr;  // MPI_Comm_idup: its communicator, real once complete
  VOp* op = nullptr;      // a user op the collective calls back (held: op_release)
};

// A message the job checkpoint's drain received for this process: served
// before anything the lower half delivers (drained.cpp).
struct Drained {
  uint64_t comm = 0;  // VComm::id
  int source = 0, tag = 0;
  std::vector<char> bytes;  // as sent: packed for derived types
};

struct Predef {
  uint64_t agent = 0;
  const char* name = "";
  const char* kind = "";
  TypeMap tm;  // datatypes only
};

// The API lock: recursive, and owned by a thread's identity that survives
// a restart (the address of a thread-local variable; a pthread mutex
// records the TID, which a restart changes, and a lock held across a
// checkpoint could then never be released).  ckpt.cpp.
class ApiMutex {
 public:
  void lock();
  bool try_lock();
  void unlock();

 private:
  std::atomic<const void*> owner_{nullptr};
  int depth_ = 0;
  std::atomic<uint32_t> word_{0};  // futex: bumped at each release
  std::atomic<uint32_t> waiters_{0};
};

struct Global {
  bool initialized = false, finalized = false;
  bool initializing = false;  // inside MPI_Init: its checkpoint callback waits for it
  int thread_level = MPI_THREAD_SINGLE;
  int rank = 0, size = 1;
  VComm world, self;
  std::vector<Predef> predef;
  std::unordered_map<const void*, int> predef_index;
  std::string processor;
  int tag_ub = 32767, wtime_global = 0, universe = 1, appnum = 0, host = 0, io = 0, lastcode = 0,
      version = 301;
  std::map<int, Keyval> keyvals;
  int next_keyval = 1000;
  void* bsend_buf = nullptr;
  int bsend_size = 0;
  // Point-to-point payloads of at least this many bytes to a rank on this
  // node go by rendezvous: the receiver copies them straight from our
  // memory ($CRMPI_RNDV_MIN; agent_rndv.cpp has the algorithm).
  size_t rndv_min = 32768;
  // A Test/Iprobe that found nothing is answered locally for this long when
  // repeated on the same requests ($CRMPI_TEST_PACE_NS; api_req.cpp).
  long test_pace_ns = 5000;
  // Packed buffers of freed, still active requests (MPI_Request_free).
  std::vector<std::vector<char>> freed_buffers;
  ApiMutex mu;
  // What a job checkpoint needs (ckpt.cpp): the live communicators other
  // than world and self, by id (the order a restart rebuilds them in); the
  // live user ops; the live requests; messages the drain received.
  std::map<uint64_t, VComm*> comms;
  std::unordered_set<VOp*> ops;
  std::unordered_set<VRequest*> requests;
  uint64_t posts = 0;  // VRequest::post_seq counter
  std::deque<Drained> drained;
  // Freed communicators whose last request is gone: their lower halves are
  // freed when the API call that dropped it ends (reap_comms).
  std::vector<VComm*> dead_comms;
};
extern Global g;

// ---- translation
VComm* comm(MPI_Comm c);                 // nullptr for MPI_COMM_NULL / invalid
const Predef* predef(const void* h);     // nullptr if not predefined
const TypeMap* typemap(MPI_Datatype t);  // nullptr if invalid
bool type_derived(MPI_Datatype t);
// The layout of predefined datatype `name` (index id) from its size and
// extent in Open MPI (api_datatype.cpp).
TypeMap predef_typemap(const char* name, uint64_t id, int64_t size, int64_t extent);
uint64_t wire_type(MPI_Datatype t);  // for data movement
// Whether data of type t travel packed: derived types, and the predefined
// pair types whose extent has padding (MPI_DOUBLE_INT ...), except in
// reductions, where the agent needs them raw with their own type.
bool packs(MPI_Datatype t);
uint64_t wire_type_packed(MPI_Datatype t);  // bytes element for packed types
uint64_t wire_op(MPI_Op op);                // agent op
uint64_t mix_id(uint64_t parent, uint64_t counter, uint64_t extra);

// ---- intercommunicators (api_intercomm.cpp)
// An intercommunicator collective's buffer spans on this rank (elements,
// see api_coll.cpp), following MPI-3.1 5.2.2: the root group passes
// MPI_ROOT at its root and MPI_PROC_NULL elsewhere, the other group the
// root's rank in the remote group; blocks count the remote group.
struct InterSpans {
  int s = 0, r = 0;
  bool prefill = false;
};
InterSpans inter_spans(int kind, const VComm& c, int root, int scount, int rcount,
                       const int* scounts, const int* sdispls, const int* rcounts,
                       const int* rdispls);
// Entries of a collective's count/displacement arrays on `c`: the remote
// group's size on an intercommunicator (the local one for reduce_scatter),
// else the size.
int coll_blocks(const VComm& c, int kind);

// ---- errors
int check(VComm* c, MPI_Comm h, int rc, const char* fn);
int check_world(int rc, const char* fn);

// ---- buffers in one call (their inline parts in the Call's Arena, lower_half.h)
// Bytes that `count` elements take in transit: count × size when packed,
// else count × extent (0 for count <= 0).
size_t payload_bytes(const TypeMap& tm, int count, bool packed);
// Copy `count` elements at `buf` to `out` as they travel (packed or raw).
void put_payload(const TypeMap& tm, bool packed, const void* buf, int count, char* out);
// Fill `b` with `count` elements of `type` at `buf` as a source (packed if
// packs(type), or only if derived when raw_pairs).
void source(chan::Buf& b, Arena& a, const void* buf, int count, MPI_Datatype type,
            std::vector<char>& tmp, bool allow_inline = true, bool raw_pairs = false);
// Prepare `d` to receive `count` elements of `type` at `buf` (same packing).
void dest(Dest& d, Arena& a, void* buf, int count, MPI_Datatype type, bool prefill,
          bool allow_inline = true, bool raw_pairs = false);
// After the reply: copy/unpack `bytes` received bytes, inline ones from the
// call's arena `from` (at inline_off if >= 0, which overrides the
// descriptor's own location; -1: not inline).
void finish(Dest& d, size_t bytes, const Arena& from, int64_t inline_off = -2);

// ---- lower half shortcuts
Call& begin(uint32_t op);  // lower_half().begin(op)
int execute(Call& c);      // lower_half().execute(c), forgetting the paced polls
void status_from_call(MPI_Status* st, const Call& c);

// Serialises libcrpmpi (MPI_THREAD_SERIALIZED).  A thread entering
// libcrpmpi while a job checkpoint's driver works waits for it first; the
// driver itself needs no lock (ckpt.cpp).
struct Lock {
  Lock();
  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  bool held_ = false;
};

// ---- job checkpoint (ckpt.cpp, drained.cpp)
// Called by begin() before it lends a Call: parks the calling thread while
// the lower half holds application threads for a checkpoint.
void ckpt_before_call();
// Register libcrpmpi's checkpoint callback with libcr (MPI_Init).
void ckpt_init();
// The oldest drained message a receive of (c, src, tag) matches (MPI's
// wildcards), or nullptr.
Drained* drained_match(const VComm* c, int src, int tag);
// Deliver drained message e into count x type at buf (datatype honoured;
// truncation reported as MPI does), fill st, remove e.  Returns the
// receive's error code.
int drained_receive(Drained* e, void* buf, int count, MPI_Datatype t, MPI_Status* st);
// The status a probe of e reports.
void drained_status(const Drained& e, MPI_Status* st);
// A receive request `r` (posting record filled) that a drained message
// matches completes now, locally.  Returns true if one did.
bool drained_complete(VRequest* r);
// Settle one request before a capture (api_req.cpp): complete it locally
// with its outcome, or mark it for a re-post if it was cancelled.
void settle_request(VRequest* r);
// Post a receive request again from its posting record (api_p2p.cpp).
int post_irecv(VRequest* r, void* buf, int count, MPI_Datatype t, int src, int tag);
// The world/self handles and predefined table of a new lower half (restart;
// api_init.cpp).
void rehello();

// Callbacks from the lower half while it executes a call (api_p2p.cpp):
// user ops (api_op.cpp) and rendezvous pulls.
void lower_half_callback(Call& c);

// Paced polling (api_req.cpp): pace_skip says whether a poll identified by
// `key` found nothing less than g.test_pace_ns ago (then answer "not yet"
// without the agent); pace_note records the outcome of a real poll.
bool pace_skip(uint64_t key);
void pace_note(uint64_t key, bool found);
// Any other call may change what a poll would find: forget the paced polls.
void pace_reset();
// execute() for a poll, which leaves the paced polls alone.
int poll_execute(Call& c);

// Datatype attributes and lifetime (api_attr.cpp): MPI_Type_dup's copy
// callbacks; MPI_Type_free's delete callbacks and (deferred) release.
int type_copy_attrs(MPI_Datatype from, MPI_Datatype to);
int type_free(MPI_Datatype* t);
// Drop one holder of v (api_datatype.cpp); the last one frees it.
void type_release(VType* v);

// VRequest helpers (api_req.cpp)
VRequest* new_request(VRequest::Kind k, VComm* c);
// Frees the lower half of every communicator in g.dead_comms, and them.
// Called by the outermost Lock as it ends (no Call is in use then).
void reap_comms();

// ---- all-to-all of typed blocks (api_coll.cpp; issue 11): MPI_Alltoallw
// and the neighbourhood collectives. For each peer (rank of the group MPI
// exchanges with), the blocks sent to it and received from it, in order.
struct TypedBlock {
  char* buf;
  int count;
  MPI_Datatype type;
};
struct BlockPlan {
  std::vector<std::vector<TypedBlock>> send, recv;
  bool inplace = false;  // MPI_IN_PLACE: each peer's send blocks are its receive blocks
};
int alltoall_blocks(MPI_Comm c, const BlockPlan& p, MPI_Request* req, const char* fn);
int complete_requests(int kind, int n, MPI_Request* reqs, int* index, int* flag, int* outcount,
                      int* indices, MPI_Status* statuses, const char* fn);

}  // namespace crmpi
