// cr_agent internals shared by agent_exec.cpp (calls, buffers, handles, user
// ops), agent_p2p.cpp (point-to-point, requests), agent_rndv.cpp (wire
// format, rendezvous, stash), agent_coll.cpp (collectives, communicators)
// and agent_coll_direct.cpp (single-copy large collectives).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <unordered_set>
#include <vector>

#include "agent.h"

namespace crmpi::agent::internal {

using chan::Buf;
using chan::Msg;

// Growable agent scratch memory for blocking calls.
struct Scratch {
  char* p = nullptr;
  size_t cap = 0;
  char* get(size_t n) {
    if (n > cap) {
      free(p);
      cap = n + n / 4 + 4096;
      p = static_cast<char*>(malloc(cap));
      if (!p) {
        fprintf(stderr, "crmpi: agent out of memory (%zu bytes)\n", n);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
    }
    return p;
  }
};
extern Scratch g_scratch[3];

// A call names something the agent does not know (a handle it never gave
// out, a buffer outside the channel): thrown before any MPI call is made,
// caught by execute(), answered with MPI_ERR_ARG.
struct BadCall {
  const char* what;
};

// Nonblocking operation owned by the agent until completion; every live
// one is registered, so that ids coming from the app can be checked.
struct AReq {
  AReq();
  ~AReq();
  MPI_Request r = MPI_REQUEST_NULL;
  char* sbuf = nullptr;
  char* rbuf = nullptr;
  Buf dst{};
  bool recv = false;  // deliver status._ucount bytes; else dst.bytes
  MPI_Datatype utype = MPI_DATATYPE_NULL;
  bool detached = false;    // buffered send or freed request: reap silently
  bool buffered = false;    // a buffered send (MPI_Buffer_detach waits for these)
  std::vector<int> arrays;  // counts/displacements of a nonblocking v-collective
  // Point-to-point (agent_p2p.cpp, agent_rndv.cpp).
  bool p2p = false;      // a point-to-point receive: wire-decoded when it completes
  bool done = false;     // completed outside MPI (stash, or served while polling)
  bool pulled = false;   // its payload is already in the app's buffer (rendezvous)
  int rc = MPI_SUCCESS;  // error of a completion outside MPI
  MPI_Status st{};       // status of a completion outside MPI
  bool send = false;     // a point-to-point send: status shows the payload size
  size_t send_bytes = 0;
  int send_src = 0, send_tag = 0;
  MPI_Datatype btype = MPI_DATATYPE_NULL;  // byte type of a payload over 2 GiB
  bool rndv = false;                       // rendezvous send: r is the receive of the ack
  chan::RndvHeader hdr{};
  char ack = 0;
  // MPI_Comm_idup (agent_coll.cpp op_comm_idup): where MPI puts the new
  // communicator, and its job-unique id; adopted once it completes.
  MPI_Comm* made = nullptr;
  uint64_t made_id = 0;
  bool adopted = false;
};

// The live request with this id, or BadCall.
AReq* areq(uint64_t id);
// Every live request (agent_exec.cpp).
extern std::unordered_set<AReq*> g_live;
// Before a job checkpoint's capture: cancel a pending receive, or complete
// it (it matched), a send or a nonblocking collective; the outcome stays in
// q (done, st, rc) for the app's next completion call.  0 or an errno.
int settle_request(AReq* q);
// Handles the agent gave out (communicators, ops, messages), checked by
// wcomm/wop/wmsg; throw BadCall for anything else.
void remember_comm(MPI_Comm c);
void forget_comm(MPI_Comm c);
MPI_Message wmsg(uint64_t w);
// Messages matched by MPI_Mprobe/MPI_Improbe that the app has not received:
// out of MPI's queues but not yet counted as received (no drain can
// balance them).
bool matched_messages_pending();
void remember_msg(MPI_Message m);

// process_vm_readv/writev between the app and agent memory (aborts on failure).
void cma(bool write, uint64_t addr, char* local, size_t n);
// Pointers to a call's source/destination bytes; `priv` forces a private copy.
char* src_ptr(const Buf& b, Scratch& s, bool priv = false);
char* dst_ptr(const Buf& b, Scratch& s, bool priv = false);
// Copy a buffer's current bytes (inline or in the app) to p.
void load(const Buf& b, char* p);
// Deliver n received bytes of a destination to the app.
void dst_done(const Buf& b, char* p, size_t n);
// Agent-owned copies for nonblocking operations.
char* own_copy(const Buf& b);
char* own_dst(const Buf& b);
// Wire values to handles.
MPI_Datatype wtype(uint64_t w);
MPI_Comm wcomm(uint64_t w);
MPI_Op wop(uint64_t w);
template <class T>
uint64_t u(T h) {
  return reinterpret_cast<uint64_t>(h);
}

// Element type for a collective with a user op (see agent_exec.cpp).
MPI_Datatype userop_type(MPI_Datatype t, uint64_t app_op, uint64_t app_type);
void userop_type_free(MPI_Datatype d);

void op_coll(Msg& m);

// ---- point-to-point (agent_p2p.cpp)
void op_send(Msg& m);
void op_recv(Msg& m);
void op_isend(Msg& m);
void op_irecv(Msg& m);
void op_probe(Msg& m, bool blocking);
void op_mprobe(Msg& m);
void op_mrecv(Msg& m);
void op_imrecv(Msg& m);
void op_sendrecv(Msg& m);
void op_complete(Msg& m);
void op_cancel(Msg& m);
void op_request_free(Msg& m);
void op_bsend_flush(Msg& m);
void reap_detached();
void areq_free(AReq* q);
void put_status(Msg& m, const MPI_Status& st);

// Hand the current message to the app as a callback (kind = kCallback, what
// in a[23]) and wait until it answers kOpCallbackDone (agent_exec.cpp).
// Only while the app waits in call() (g_app_waits, or a call posted and not
// yet executed).
void call_app();
// call_seq up to which the serve loop has executed calls (agent_main.cpp).
extern uint32_t g_calls_done;

// ---- wire format, rendezvous, stash (agent_rndv.cpp; algorithm there)
extern MPI_Comm g_ack_comm;
// True while execute() runs a call: the app waits in call() and can take a
// callback. (Posted sends run outside calls: no callback then.)
extern bool g_app_waits;
// Pending point-to-point receives that can get a rendezvous header.
extern std::unordered_set<AReq*> g_rndv_recvs;
// Every rank on this node, all able to read each other (same on all ranks).
extern bool g_job_local;
// Payloads from this size go by rendezvous ($CRMPI_RNDV_MIN, as in the app).
extern size_t g_rndv_min;
// Once, after MPI_Init (collective): the ack communicator, the progress
// hook, and which world ranks we may exchange by rendezvous with.
void rndv_init();
// Ask the app (callback kCbPull) to copy n bytes at addr in process pid
// into dst. Returns false if it could not.
bool app_copy(const Buf& dst, int pid, uint64_t addr, size_t n);
// Large bcast/gather/scatter/allgather/alltoall between ranks of one node by
// direct copies (agent_coll_direct.cpp). Returns false if not applicable;
// else sets m.rc.
bool coll_direct(Msg& m, MPI_Datatype st, MPI_Datatype rt);
bool rndv_local(uint64_t world);
// Sends of an n-byte payload at buf, which has room for one more byte.
// wire_isend may create a byte type (payloads over 2 GiB) in *bt, to be
// freed when the request completes.
int wire_send(char* buf, size_t n, int dest, int tag, MPI_Comm c, uint64_t mode);
int wire_isend(char* buf, size_t n, int dest, int tag, MPI_Comm c, uint64_t mode, MPI_Request* r,
               MPI_Datatype* bt);
// `bytes` bytes as an MPI (count, type): MPI_BYTE up to INT_MAX, else one
// element of a committed type made here, freed with the object unless
// release()d to a request that outlives it.
class WireCount {
 public:
  explicit WireCount(size_t bytes);
  ~WireCount();
  WireCount(const WireCount&) = delete;
  WireCount& operator=(const WireCount&) = delete;
  // The type it made (the caller frees it), or MPI_DATATYPE_NULL.
  MPI_Datatype release();
  int count = 0;
  MPI_Datatype type = MPI_BYTE;

 private:
  bool made_ = false;
};
// Rendezvous send of src (an app address): posts the ack receive in q->r,
// then sends the header. rndv_send_finish runs once q->r completed.
int rndv_send_start(AReq* q, const Buf& src, int dest, int tag, MPI_Comm c, uint64_t world);
int rndv_send_finish(AReq* q, const MPI_Status& ack);
// Receive capacity (bytes) for a destination: its bytes + 1, and at least
// a header + 1 (so that a header for a too-small buffer arrives whole and
// gets its ack).
size_t recv_capacity(const Buf& dst);
// Decode a completed receive of wire bytes at buf for dst: fixes st
// (payload size, truncation) and pulls a rendezvous payload into dst
// (*pulled). Returns the receive's error code.
int land(const Buf& dst, const char* buf, MPI_Status& st, int rc, bool* pulled);
// A pending receive completed (in MPI) with st/rc: decode it, mark it done.
void recv_completed(AReq* q, MPI_Status& st, int rc);
// Test every receive in g_rndv_recvs and land those that completed.
void serve_pending();
// While one exists, Open MPI's progress engine serves g_rndv_recvs: put one
// around each blocking MPI call made for the app that does not itself use a
// request of g_rndv_recvs.
struct Armed {
  Armed();
  ~Armed();
};
// MPI_Wait, Armed.
int wait_req(MPI_Request* r, MPI_Status* st);

struct Stashed {
  MPI_Comm comm;
  MPI_Status st;  // as received: wire size in _ucount
  std::vector<char> bytes;
};
extern std::unordered_set<Stashed*> g_stash_msgs;
// Received messages no receive has taken yet, oldest first (agent_rndv.cpp).
extern std::deque<Stashed*> g_stash;
Stashed* stash_find(MPI_Comm c, int src, int tag, bool take);
Stashed* stash_receive(MPI_Comm c, MPI_Message* msg, const MPI_Status& probed);
// Stash every message of (c, src) up to the first with `tag`; returns that one.
Stashed* stash_through(MPI_Comm c, int src, int tag);
// Payload size of a stashed message.
size_t stashed_size(const Stashed* e);
// Deliver (and delete) a stashed message as a receive into dst: wire bytes
// copied to p (capacity recv_capacity(dst)) unless it is a header, which is
// pulled (*pulled). st gets the decoded status.
int stash_deliver(Stashed* e, const Buf& dst, char* p, MPI_Status& st, bool* pulled);
void op_comm(Msg& m);
// MPI_Comm_idup: posts Open MPI's own; the reply is a request id.
void op_comm_idup(Msg& m);
// The communicator a completed MPI_Comm_idup request made (0 if none):
// known to the agent and the job checkpoint from the first call on.
uint64_t adopt_made(AReq* q);
// Reply of a communicator creation (CommOut, members' world ranks in data).
void reply_comm(Msg& m, MPI_Comm nc);
// The group of these world ranks.
MPI_Group world_subgroup(int n, const int* ranks);
// Intercommunicators (agent_intercomm.cpp).
void op_intercomm_create(Msg& m);
int rebuild_intercomm(uint64_t id, const std::vector<int>& local, const std::vector<int>& remote,
                      MPI_Comm* out);

}  // namespace crmpi::agent::internal
