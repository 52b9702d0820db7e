// MPI family: point-to-point. Blocking, nonblocking and persistent sends and
// receives in all modes, probe, sendrecv, buffer attach/detach, counts.
// Every send and completed receive is counted on its communicator (the next
// issue's drain needs sent/received totals).
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "api.h"

using namespace crmpi;

namespace crmpi {

void user_op_callback(Call& m);  // api_op.cpp

// kCbPull: copy a rendezvous payload from the sender app straight into the
// receive buffer (the agent then sends the ack, or a nack if this failed).
static void pull_callback(Call& m) {
  const chan::Buf& b = m.dst;
  char* dst = b.mode == chan::kInline ? m.arena.at(b.off) : reinterpret_cast<char*>(b.addr);
  auto* src = reinterpret_cast<char*>(m.a.pull.addr);
  size_t n = m.a.pull.bytes;
  auto pid = static_cast<pid_t>(m.a.pull.pid);
  if (pid == getpid()) {  // our own block of a collective
    memmove(dst, src, n);
    m.a.pull.copied = 1;
    return;
  }
  m.a.pull.copied = vm_copy(pid, false, reinterpret_cast<uint64_t>(src), dst, n);
}

void lower_half_callback(Call& c) {
  if (c.callback() == chan::kCbPull)
    pull_callback(c);
  else
    user_op_callback(c);
}

// A payload big enough for a rendezvous. A receive buffer of that size goes
// by address (CMA), so that a pull lands in it directly, not in the channel.
static bool big_payload(int count, MPI_Datatype t) {
  const TypeMap* tm = typemap(t);
  return tm && count > 0 && payload_bytes(*tm, count, packs(t)) >= g.rndv_min;
}

// A send that may go by rendezvous (the agent still decides: only to ranks
// on this node). Buffered sends keep their copy semantics.
static bool rndv_size(int count, MPI_Datatype t, int dest, VComm* vc, uint64_t mode) {
  if (mode == chan::kBuffered || dest < 0 || dest >= vc->peer_size()) return false;
  return big_payload(count, t);
}

int post_isend(VRequest* r, const void* buf, int count, MPI_Datatype t, int dest, int tag,
               uint64_t mode) {
  std::vector<char> tmp;
  Call& m = begin(chan::kOpIsend);
  Arena& a = m.arena;
  bool big = rndv_size(count, t, dest, r->comm, mode);
  source(m.src, a, buf, count, t, tmp, !big);
  m.a.send.type = wire_type(t);
  m.a.send.count = static_cast<uint64_t>(count);
  m.a.send.dest = static_cast<uint64_t>(dest);
  m.a.send.tag = static_cast<uint64_t>(tag);
  m.a.send.comm = r->comm->real;
  m.a.send.mode = mode;
  m.a.send.rndv = big;
  m.a.send.dest_world = big ? static_cast<uint64_t>(r->comm->peers()[dest]) : 0;
  int rc = execute(m);
  // A rendezvous reads a packed copy until completion: it lives in the request.
  if (big && !tmp.empty()) r->packed = std::move(tmp);
  r->real = m.a.request.request;
  r->kind = VRequest::kSend;
  // The posting record (a restart re-posts from it, see api.h).
  r->pmode = 1 + static_cast<int>(mode), r->pbuf = buf, r->pcount = count, r->ppeer = dest,
  r->ptag = tag;
  r->type = t;
  r->type_ref.hold(t);
  if (dest != MPI_PROC_NULL) r->comm->sent++;
  return rc;
}

int post_irecv(VRequest* r, void* buf, int count, MPI_Datatype t, int src, int tag) {
  r->kind = VRequest::kRecv;
  r->pmode = -1, r->pbuf = buf, r->pcount = count, r->ppeer = src, r->ptag = tag;
  r->type = t;
  r->type_ref.hold(t);  // its typemap unpacks the data at completion
  r->post_seq = ++g.posts;  // a checkpoint re-posts cancelled receives in this order
  // begin() first: a checkpoint it waited for may have drained a match.
  Call& m = begin(chan::kOpIrecv);
  if (drained_complete(r)) return MPI_SUCCESS;  // a message the checkpoint's drain kept
  Arena& a = m.arena;
  dest(r->dst, a, buf, count, t, false, false);
  m.dst = r->dst.wire;
  m.a.recv.type = wire_type(t);
  m.a.recv.count = static_cast<uint64_t>(count);
  m.a.recv.source = static_cast<uint64_t>(src);
  m.a.recv.tag = static_cast<uint64_t>(tag);
  m.a.recv.comm = r->comm->real;
  int rc = execute(m);
  r->real = m.a.request.request;
  return rc;
}

}  // namespace crmpi

namespace {

// Algorithm (posted sends): a small standard or buffered send that is valid
// as far as the app can tell is posted to the lower half (post_send) and the
// call returns at once: the buffer is reusable (the payload was copied) and
// the lower half sends it before executing any later call, so MPI ordering
// holds and an exchange (send, then receive) costs one round trip instead of
// two. The backend takes only sends it never blocks on (the agent: eager-sized
// payloads, docs/protocol.md).
bool try_post(const void* buf, int count, MPI_Datatype t, int dest, int tag, VComm* vc,
              uint64_t mode) {
  if (mode != chan::kStandard && mode != chan::kBuffered) return false;
  if (dest < 0 || dest >= vc->peer_size() || tag < 0 || tag > g.tag_ub || count < 0) return false;
  const TypeMap* tm = typemap(t);
  if (!tm) return false;
  bool derived = packs(t);
  chan::SendArgs a{};
  a.type = wire_type(t);
  a.count = static_cast<uint64_t>(count);
  a.dest = static_cast<uint64_t>(dest);
  a.tag = static_cast<uint64_t>(tag);
  a.comm = vc->real;
  a.mode = mode;
  if (!lower_half().post_send(a, {buf, count, tm, derived, payload_bytes(*tm, count, derived)}))
    return false;
  pace_reset();  // a send (to ourselves, say) may change what a poll finds
  vc->sent++;
  return true;
}

const bool g_post_sends = !getenv("CRMPI_NO_POSTED_SENDS");

int send(const void* buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c, uint64_t mode,
         const char* fn) {
  Lock l;
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, fn);
  if (g_post_sends && try_post(buf, count, t, dest, tag, vc, mode)) return MPI_SUCCESS;
  std::vector<char> tmp;
  Call& m = begin(chan::kOpSend);
  Arena& a = m.arena;
  bool big = rndv_size(count, t, dest, vc, mode);
  source(m.src, a, buf, count, t, tmp, !big);
  m.a.send.type = wire_type(t);
  m.a.send.count = static_cast<uint64_t>(count);
  m.a.send.dest = static_cast<uint64_t>(dest);
  m.a.send.tag = static_cast<uint64_t>(tag);
  m.a.send.comm = vc->real;
  m.a.send.mode = mode;
  m.a.send.rndv = big;
  m.a.send.dest_world = big ? static_cast<uint64_t>(vc->peers()[dest]) : 0;
  int rc = execute(m);
  if (dest != MPI_PROC_NULL) vc->sent++;
  return check(vc, c, rc, fn);
}

int isend(const void* buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c, uint64_t mode,
          MPI_Request* req, const char* fn) {
  Lock l;
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, fn);
  if (g_post_sends && (mode == chan::kStandard || mode == chan::kBuffered) &&
      try_post(buf, count, t, dest, tag, vc, mode)) {
    // The payload is in the channel: the request is complete (the buffer
    // is reusable), and its Wait/Test will not need the agent.
    VRequest* r = new_request(VRequest::kSend, vc);
    r->local_done = true;
    r->pmode = 1 + static_cast<int>(mode), r->pbuf = buf, r->pcount = count, r->ppeer = dest;
    r->ptag = tag, r->type = t;
    *req = reinterpret_cast<MPI_Request>(r);
    return MPI_SUCCESS;
  }
  VRequest* r = new_request(VRequest::kSend, vc);
  int rc = post_isend(r, buf, count, t, dest, tag, mode);
  *req = reinterpret_cast<MPI_Request>(r);
  return check(vc, c, rc, fn);
}

int persistent(const void* buf, int count, MPI_Datatype t, int peer, int tag, MPI_Comm c, int pmode,
               MPI_Request* req, const char* fn) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, fn);
  VRequest* r = new_request(pmode < 0 ? VRequest::kRecv : VRequest::kSend, vc);
  r->persistent = true;
  r->pmode = pmode;
  r->pbuf = buf;
  r->pcount = count;
  r->ppeer = peer;
  r->ptag = tag;
  r->type = t;
  r->type_ref.hold(t);  // every MPI_Start uses it
  *req = reinterpret_cast<MPI_Request>(r);
  return MPI_SUCCESS;
}

}  // namespace

CRMPI_API int PMPI_Send(const void* buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c) {
  return send(buf, count, t, dest, tag, c, chan::kStandard, CRMPI_NAME);
}
CRMPI_API int PMPI_Ssend(const void* buf, int count, MPI_Datatype t, int dest, int tag,
                         MPI_Comm c) {
  return send(buf, count, t, dest, tag, c, chan::kSync, CRMPI_NAME);
}
CRMPI_API int PMPI_Rsend(const void* buf, int count, MPI_Datatype t, int dest, int tag,
                         MPI_Comm c) {
  return send(buf, count, t, dest, tag, c, chan::kReady, CRMPI_NAME);
}
CRMPI_API int PMPI_Bsend(const void* buf, int count, MPI_Datatype t, int dest, int tag,
                         MPI_Comm c) {
  return send(buf, count, t, dest, tag, c, chan::kBuffered, CRMPI_NAME);
}
CRMPI_API int PMPI_Isend(const void* buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c,
                         MPI_Request* r) {
  return isend(buf, count, t, dest, tag, c, chan::kStandard, r, CRMPI_NAME);
}
CRMPI_API int PMPI_Issend(const void* buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c,
                          MPI_Request* r) {
  return isend(buf, count, t, dest, tag, c, chan::kSync, r, CRMPI_NAME);
}
CRMPI_API int PMPI_Irsend(const void* buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c,
                          MPI_Request* r) {
  return isend(buf, count, t, dest, tag, c, chan::kReady, r, CRMPI_NAME);
}
CRMPI_API int PMPI_Ibsend(const void* buf, int count, MPI_Datatype t, int dest, int tag, MPI_Comm c,
                          MPI_Request* r) {
  // The agent owns a copy of the data from the start (never a rendezvous):
  // buffered semantics.
  return isend(buf, count, t, dest, tag, c, chan::kBuffered, r, CRMPI_NAME);
}

CRMPI_API int PMPI_Recv(void* buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm c,
                        MPI_Status* st) {
  Lock l;
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  Dest d;
  Call& m = begin(chan::kOpRecv);
  // After begin(): a checkpoint it waited for may have drained a match.
  if (Drained* e = drained_match(vc, src, tag)) {  // kept by a checkpoint's drain
    vc->recvd++;
    return check(vc, c, drained_receive(e, buf, count, t, st), CRMPI_NAME);
  }
  Arena& a = m.arena;
  dest(d, a, buf, count, t, false, !big_payload(count, t));
  m.dst = d.wire;
  m.a.recv.type = wire_type(t);
  m.a.recv.count = static_cast<uint64_t>(count);
  m.a.recv.source = static_cast<uint64_t>(src);
  m.a.recv.tag = static_cast<uint64_t>(tag);
  m.a.recv.comm = vc->real;
  int rc = execute(m);
  if (rc == chan::kRcPaused)  // a job checkpoint came first: receive again
    return PMPI_Recv(buf, count, t, src, tag, c, st);
  if (rc == MPI_SUCCESS || rc == MPI_ERR_TRUNCATE)
    finish(d, m.a.recv.status.ucount, m.arena);  // truncated: the part that fits
  if (static_cast<int>(m.a.recv.status.source) != MPI_PROC_NULL) vc->recvd++;
  status_from_call(st, m);
  return check(vc, c, rc, CRMPI_NAME);
}

CRMPI_API int PMPI_Irecv(void* buf, int count, MPI_Datatype t, int src, int tag, MPI_Comm c,
                         MPI_Request* req) {
  Lock l;
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  VRequest* r = new_request(VRequest::kRecv, vc);
  int rc = post_irecv(r, buf, count, t, src, tag);
  *req = reinterpret_cast<MPI_Request>(r);
  return check(vc, c, rc, CRMPI_NAME);
}

static int probe(int src, int tag, MPI_Comm c, int* flag, MPI_Status* st, bool blocking,
                 const char* fn) {
  Lock l;
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, fn);
  uint64_t key = (vc->real * 0x100000001b3ull ^ static_cast<uint32_t>(src)) * 31 +
                 static_cast<uint32_t>(tag) + 0x5052;  // paced polling (api_req.cpp)
  if (!g.drained.empty() || lower_half().hold()) {
    begin(chan::kOpIprobe);  // waits for a checkpoint in progress, which may drain a match
    if (const Drained* e = drained_match(vc, src, tag)) {  // kept by a checkpoint's drain
      if (flag) *flag = 1;
      drained_status(*e, st);
      return MPI_SUCCESS;
    }
  }
  if (!blocking && pace_skip(key)) {
    *flag = 0;
    return MPI_SUCCESS;
  }
  Call& m = begin(blocking ? chan::kOpProbe : chan::kOpIprobe);
  m.a.probe.source = static_cast<uint64_t>(src);
  m.a.probe.tag = static_cast<uint64_t>(tag);
  m.a.probe.comm = vc->real;
  int rc = blocking ? execute(m) : poll_execute(m);
  if (rc == chan::kRcPaused) return probe(src, tag, c, flag, st, blocking, fn);
  if (!blocking) pace_note(key, m.a.probe.flag != 0);
  if (flag) *flag = static_cast<int>(m.a.probe.flag);
  if (m.a.probe.flag) status_from_call(st, m);
  return check(vc, c, rc, fn);
}

CRMPI_API int PMPI_Probe(int src, int tag, MPI_Comm c, MPI_Status* st) {
  return probe(src, tag, c, nullptr, st, true, CRMPI_NAME);
}
CRMPI_API int PMPI_Iprobe(int src, int tag, MPI_Comm c, int* flag, MPI_Status* st) {
  return probe(src, tag, c, flag, st, false, CRMPI_NAME);
}

CRMPI_API int PMPI_Sendrecv(const void* sbuf, int scount, MPI_Datatype stype, int dest, int stag,
                            void* rbuf, int rcount, MPI_Datatype rtype, int src, int rtag,
                            MPI_Comm c, MPI_Status* st) {
  Lock l;
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  if (rndv_size(scount, stype, dest, vc, chan::kStandard)) {
    // The send may be a rendezvous, which completes only once the peer has
    // pulled it: post it, receive, then complete it (what Sendrecv means).
    MPI_Request r;
    int rc = isend(sbuf, scount, stype, dest, stag, c, chan::kStandard, &r, CRMPI_NAME);
    if (rc != MPI_SUCCESS) return rc;
    rc = PMPI_Recv(rbuf, rcount, rtype, src, rtag, c, st);
    int wrc = PMPI_Wait(&r, MPI_STATUS_IGNORE);
    return rc != MPI_SUCCESS ? rc : wrc;
  }
  std::vector<char> tmp;
  Dest d;
  Call& m = begin(chan::kOpSendrecv);
  // After begin(): a checkpoint it waited for may have drained a match.
  if (drained_match(vc, src, rtag)) {  // the receive is served by a checkpoint's drain
    int rc = PMPI_Send(sbuf, scount, stype, dest, stag, c);
    if (rc != MPI_SUCCESS) return rc;
    return PMPI_Recv(rbuf, rcount, rtype, src, rtag, c, st);
  }
  Arena& a = m.arena;
  source(m.src, a, sbuf, scount, stype, tmp);
  crmpi::dest(d, a, rbuf, rcount, rtype, false, !big_payload(rcount, rtype));
  m.dst = d.wire;
  m.a.sendrecv.stype = wire_type(stype);
  m.a.sendrecv.scount = static_cast<uint64_t>(scount);
  m.a.sendrecv.dest = static_cast<uint64_t>(dest);
  m.a.sendrecv.stag = static_cast<uint64_t>(stag);
  m.a.sendrecv.comm = vc->real;
  m.a.sendrecv.rtype = wire_type(rtype);
  m.a.sendrecv.rcount = static_cast<uint64_t>(rcount);
  m.a.sendrecv.source = static_cast<uint64_t>(src);
  m.a.sendrecv.rtag = static_cast<uint64_t>(rtag);
  int rc = execute(m);
  if (rc == chan::kRcPaused)  // a job checkpoint came first: nothing happened
    return PMPI_Sendrecv(sbuf, scount, stype, dest, stag, rbuf, rcount, rtype, src, rtag, c, st);
  if (rc == chan::kRcPausedSent) {  // the send went; the receive is made again
    if (dest != MPI_PROC_NULL) vc->sent++;
    return PMPI_Recv(rbuf, rcount, rtype, src, rtag, c, st);
  }
  if (rc == MPI_SUCCESS || rc == MPI_ERR_TRUNCATE)
    finish(d, m.a.sendrecv.status.ucount, m.arena);  // truncated: the part that fits
  if (dest != MPI_PROC_NULL) vc->sent++;
  if (static_cast<int>(m.a.sendrecv.status.source) != MPI_PROC_NULL) vc->recvd++;
  status_from_call(st, m);
  return check(vc, c, rc, CRMPI_NAME);
}

CRMPI_API int PMPI_Sendrecv_replace(void* buf, int count, MPI_Datatype t, int dest, int stag,
                                    int src, int rtag, MPI_Comm c, MPI_Status* st) {
  const TypeMap* tm = typemap(t);
  if (!tm) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  // Send from a packed copy, receive in place.
  std::vector<char> copy(static_cast<size_t>(count) * tm->size);
  tm->pack(buf, count, copy.data());
  return PMPI_Sendrecv(copy.data(), static_cast<int>(copy.size()), MPI_BYTE, dest, stag, buf, count,
                       t, src, rtag, c, st);
}

CRMPI_API int PMPI_Send_init(const void* b, int n, MPI_Datatype t, int d, int tag, MPI_Comm c,
                             MPI_Request* r) {
  return persistent(b, n, t, d, tag, c, 1 + chan::kStandard, r, CRMPI_NAME);
}
CRMPI_API int PMPI_Ssend_init(const void* b, int n, MPI_Datatype t, int d, int tag, MPI_Comm c,
                              MPI_Request* r) {
  return persistent(b, n, t, d, tag, c, 1 + chan::kSync, r, CRMPI_NAME);
}
CRMPI_API int PMPI_Rsend_init(const void* b, int n, MPI_Datatype t, int d, int tag, MPI_Comm c,
                              MPI_Request* r) {
  return persistent(b, n, t, d, tag, c, 1 + chan::kReady, r, CRMPI_NAME);
}
CRMPI_API int PMPI_Bsend_init(const void* b, int n, MPI_Datatype t, int d, int tag, MPI_Comm c,
                              MPI_Request* r) {
  return persistent(b, n, t, d, tag, c, 1 + chan::kBuffered, r, CRMPI_NAME);
}
CRMPI_API int PMPI_Recv_init(void* b, int n, MPI_Datatype t, int s, int tag, MPI_Comm c,
                             MPI_Request* r) {
  return persistent(b, n, t, s, tag, c, -1, r, CRMPI_NAME);
}

CRMPI_API int PMPI_Start(MPI_Request* req) {
  Lock l;
  if (!is_virtual(*req, kMagicReq)) return check_world(MPI_ERR_REQUEST, CRMPI_NAME);
  VRequest* r = reinterpret_cast<VRequest*>(*req);
  if (!r->persistent || r->real) return check_world(MPI_ERR_REQUEST, CRMPI_NAME);
  int rc = r->pmode < 0
               ? post_irecv(r, const_cast<void*>(r->pbuf), r->pcount, r->type, r->ppeer, r->ptag)
               : post_isend(r, r->pbuf, r->pcount, r->type, r->ppeer, r->ptag, r->pmode - 1);
  return check(r->comm, MPI_COMM_WORLD, rc, CRMPI_NAME);
}

CRMPI_API int PMPI_Startall(int n, MPI_Request* reqs) {
  for (int i = 0; i < n; ++i) {
    int rc = PMPI_Start(&reqs[i]);
    if (rc != MPI_SUCCESS) return rc;
  }
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Buffer_attach(void* buf, int size) {
  g.bsend_buf = buf;
  g.bsend_size = size;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Buffer_detach(void* buf, int* size) {
  Lock l;
  // Buffered sends are agent-owned copies; detach waits until they are sent.
  int rc = execute(begin(chan::kOpBsendFlush));
  *static_cast<void**>(buf) = g.bsend_buf;
  *size = g.bsend_size;
  g.bsend_buf = nullptr;
  g.bsend_size = 0;
  return rc;
}

CRMPI_API int PMPI_Get_count(const MPI_Status* st, MPI_Datatype t, int* count) {
  const TypeMap* tm = typemap(t);
  if (!tm) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  if (tm->size == 0) {
    *count = 0;
    return MPI_SUCCESS;
  }
  *count = st->_ucount % tm->size ? MPI_UNDEFINED : static_cast<int>(st->_ucount / tm->size);
  return MPI_SUCCESS;
}

static int get_elements(const MPI_Status* st, MPI_Datatype t, MPI_Count* count, const char* fn) {
  const TypeMap* tm = typemap(t);
  if (!tm) return check_world(MPI_ERR_TYPE, fn);
  int64_t bytes = static_cast<int64_t>(st->_ucount);
  // A predefined type is one basic element, pair types (MPI_DOUBLE_INT ...)
  // included, as in Open MPI; a derived type counts the primitives complete
  // in the bytes received (typemap.h).
  int64_t n = type_derived(t)    ? tm->elements(bytes)
              : tm->size == 0    ? 0
              : bytes % tm->size ? -1
                                 : bytes / tm->size;
  *count = n < 0 ? MPI_UNDEFINED : static_cast<MPI_Count>(n);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Get_elements_x(const MPI_Status* st, MPI_Datatype t, MPI_Count* count) {
  return get_elements(st, t, count, CRMPI_NAME);
}

CRMPI_API int PMPI_Get_elements(const MPI_Status* st, MPI_Datatype t, int* count) {
  MPI_Count c = 0;
  int rc = get_elements(st, t, &c, CRMPI_NAME);
  *count = static_cast<int>(c);
  return rc;
}

CRMPI_API int PMPI_Status_set_elements(MPI_Status* st, MPI_Datatype t, int count) {
  return PMPI_Status_set_elements_x(st, t, count);
}

CRMPI_API int PMPI_Status_set_cancelled(MPI_Status* st, int flag) {
  st->_cancelled = flag;
  return MPI_SUCCESS;
}

// Matched probe/receive. The message handle carries the agent's MPI_Message
// (MPI_MESSAGE_NO_PROC keeps its Open MPI identity for MPI_PROC_NULL).
static int mprobe(int src, int tag, MPI_Comm c, int* flag, MPI_Message* out, MPI_Status* st,
                  bool blocking, const char* fn) {
  Lock l;
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, fn);
  if (src == MPI_PROC_NULL) {
    if (flag) *flag = 1;
    *out = MPI_MESSAGE_NO_PROC;
    if (st != MPI_STATUS_IGNORE) {
      st->MPI_SOURCE = MPI_PROC_NULL;
      st->MPI_TAG = MPI_ANY_TAG;
      st->_ucount = 0;
      st->_cancelled = 0;
    }
    return MPI_SUCCESS;
  }
  Call& m = begin(chan::kOpMprobe);
  // After begin(): a checkpoint it waited for may have drained a match.
  if (Drained* e = drained_match(vc, src, tag)) {  // kept by a checkpoint's drain
    if (flag) *flag = 1;
    drained_status(*e, st);
    auto* kept = new Drained(std::move(*e));
    for (auto it = g.drained.begin(); it != g.drained.end(); ++it)
      if (&*it == e) {
        g.drained.erase(it);
        break;
      }
    // A message handle: {0 (not the agent's), communicator, the message}.
    *out = reinterpret_cast<MPI_Message>(
        new uint64_t[3]{0, reinterpret_cast<uint64_t>(vc), reinterpret_cast<uint64_t>(kept)});
    return MPI_SUCCESS;
  }
  m.a.probe.source = static_cast<uint64_t>(src);
  m.a.probe.tag = static_cast<uint64_t>(tag);
  m.a.probe.comm = vc->real;
  m.a.probe.blocking = blocking;
  int rc = execute(m);
  if (rc == chan::kRcPaused) return mprobe(src, tag, c, flag, out, st, blocking, fn);
  if (flag) *flag = static_cast<int>(m.a.probe.flag);
  if (m.a.probe.flag) {
    status_from_call(st, m);
    auto* h = new uint64_t[2]{m.a.probe.message, reinterpret_cast<uint64_t>(vc)};
    *out = reinterpret_cast<MPI_Message>(h);
  }
  return check(vc, c, rc, fn);
}

CRMPI_API int PMPI_Mprobe(int src, int tag, MPI_Comm c, MPI_Message* m, MPI_Status* st) {
  return mprobe(src, tag, c, nullptr, m, st, true, CRMPI_NAME);
}
CRMPI_API int PMPI_Improbe(int src, int tag, MPI_Comm c, int* flag, MPI_Message* m,
                           MPI_Status* st) {
  return mprobe(src, tag, c, flag, m, st, false, CRMPI_NAME);
}

CRMPI_API int PMPI_Mrecv(void* buf, int count, MPI_Datatype t, MPI_Message* message,
                         MPI_Status* st) {
  Lock l;
  if (*message == MPI_MESSAGE_NO_PROC) {
    *message = MPI_MESSAGE_NULL;
    if (st != MPI_STATUS_IGNORE) {
      st->MPI_SOURCE = MPI_PROC_NULL;
      st->MPI_TAG = MPI_ANY_TAG;
      st->_ucount = 0;
    }
    return MPI_SUCCESS;
  }
  auto* h = reinterpret_cast<uint64_t*>(*message);
  VComm* vc = reinterpret_cast<VComm*>(h[1]);
  if (h[0] == 0) {  // a message a checkpoint's drain kept (mprobe)
    auto* kept = reinterpret_cast<Drained*>(h[2]);
    g.drained.push_front(std::move(*kept));
    delete kept;
    delete[] h;
    *message = MPI_MESSAGE_NULL;
    vc->recvd++;
    return check(vc, MPI_COMM_WORLD, drained_receive(&g.drained.front(), buf, count, t, st),
                 CRMPI_NAME);
  }
  Dest d;
  Call& m = begin(chan::kOpMrecv);
  Arena& a = m.arena;
  crmpi::dest(d, a, buf, count, t, false, !big_payload(count, t));
  m.dst = d.wire;
  m.a.mrecv.type = wire_type(t);
  m.a.mrecv.count = static_cast<uint64_t>(count);
  m.a.mrecv.message = h[0];
  int rc = execute(m);
  if (rc == MPI_SUCCESS || rc == MPI_ERR_TRUNCATE)
    finish(d, m.a.mrecv.status.ucount, m.arena);  // truncated: the part that fits
  vc->recvd++;
  status_from_call(st, m);
  delete[] h;
  *message = MPI_MESSAGE_NULL;
  return check(vc, MPI_COMM_WORLD, rc, CRMPI_NAME);
}

CRMPI_API int PMPI_Imrecv(void* buf, int count, MPI_Datatype t, MPI_Message* message,
                          MPI_Request* req) {
  Lock l;
  if (*message == MPI_MESSAGE_NO_PROC) {  // completes at once, like a receive from MPI_PROC_NULL
    *message = MPI_MESSAGE_NULL;
    return PMPI_Irecv(buf, count, t, MPI_PROC_NULL, 0, MPI_COMM_SELF, req);
  }
  auto* h = reinterpret_cast<uint64_t*>(*message);
  VComm* vc = reinterpret_cast<VComm*>(h[1]);
  VRequest* r = new_request(VRequest::kRecv, vc);
  if (h[0] == 0) {  // a message a checkpoint's drain kept (mprobe): complete at once
    MPI_Status st{};
    int rc = PMPI_Mrecv(buf, count, t, message, &st);
    r->local_done = r->has_status = true;
    r->done_status = st;
    *req = reinterpret_cast<MPI_Request>(r);
    return rc;
  }
  Call& m = begin(chan::kOpImrecv);
  Arena& a = m.arena;
  crmpi::dest(r->dst, a, buf, count, t, false, false);
  m.dst = r->dst.wire;
  m.a.mrecv.type = wire_type(t);
  m.a.mrecv.count = static_cast<uint64_t>(count);
  m.a.mrecv.message = h[0];
  int rc = execute(m);
  r->real = m.a.request.request;
  r->type = t;
  r->type_ref.hold(t);
  r->pmode = -1, r->pbuf = buf, r->pcount = count, r->ppeer = MPI_ANY_SOURCE, r->ptag = MPI_ANY_TAG;
  delete[] h;
  *message = MPI_MESSAGE_NULL;
  *req = reinterpret_cast<MPI_Request>(r);
  return check(vc, MPI_COMM_WORLD, rc, CRMPI_NAME);
}

CRMPI_API int PMPI_Status_set_elements_x(MPI_Status* st, MPI_Datatype t, MPI_Count count) {
  // `count` basic elements: for a derived type, the bytes its first `count`
  // primitives take (typemap.h).
  const TypeMap* tm = typemap(t);
  if (!tm) return check_world(MPI_ERR_TYPE, CRMPI_NAME);
  st->_ucount =
      static_cast<size_t>(type_derived(t) ? tm->bytes_of_elements(count) : count * tm->size);
  return MPI_SUCCESS;
}
