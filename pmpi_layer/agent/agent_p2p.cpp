// cr_agent: point-to-point calls and request completion on the real Open MPI.
//
// Payloads travel in the wire format of agent_rndv.cpp (bytes plus a
// trailer; 64-byte rendezvous headers), so every receive here is decoded by
// land(). Blocking MPI calls are Armed, so that rendezvous receives other
// ranks wait on are served meanwhile; op_complete polls instead.
#include <cstring>
#include <vector>

#include "agent_ckpt.h"
#include "agent_internal.h"

namespace crmpi::agent::internal {


// ---------------------------------------------------------------- requests

std::vector<AReq*> g_detached;

char* own_copy(const Buf& b) {
  if (b.mode == chan::kNone || b.mode == chan::kInPlace || b.bytes == 0) return nullptr;
  char* p = static_cast<char*>(malloc(b.bytes + 1));  // + the wire trailer
  load(b, p);
  return p;
}
char* own_dst(const Buf& b) {
  if (b.mode == chan::kInPlace) return static_cast<char*>(MPI_IN_PLACE);
  if (b.mode == chan::kNone || b.bytes == 0) return nullptr;
  char* p = static_cast<char*>(malloc(b.bytes + 1));
  if (b.prefill) load(b, p);
  return p;
}
void areq_free(AReq* q) {
  g_rndv_recvs.erase(q);
  if (q->r != MPI_REQUEST_NULL) MPI_Request_free(&q->r);  // left by an error
  if (q->btype != MPI_DATATYPE_NULL) MPI_Type_free(&q->btype);
  free(q->sbuf);
  free(q->rbuf);
  if (q->utype != MPI_DATATYPE_NULL) userop_type_free(q->utype);
  delete q->made;  // the slot; the communicator is the app's
  delete q;
}

// A completed send: the ack of a rendezvous may be a nack (an error), and
// the status shows the payload size, not the wire's.
static int send_completed(AReq* q, MPI_Status& st, int rc) {
  if (q->rndv && rc == MPI_SUCCESS) rc = rndv_send_finish(q, st);
  if (q->rndv) {
    st.MPI_SOURCE = q->send_src;
    st.MPI_TAG = q->send_tag;
  }
  st._ucount = q->send_bytes;
  return rc;
}

// Freed requests and buffered sends: complete them in the background. A
// freed receive still delivers its data (MPI_Request_free on an active
// receive does not cancel it).
void reap_detached() {
  for (size_t i = 0; i < g_detached.size();) {
    AReq* q = g_detached[i];
    int flag = 1;
    MPI_Status st{};
    if (!q->done && q->r != MPI_REQUEST_NULL) {
      int rc = MPI_Test(&q->r, &flag, &st);
      if (flag && q->p2p) recv_completed(q, st, rc);
      if (flag && q->send) send_completed(q, st, rc);
    }
    if (!flag) {
      ++i;
      continue;
    }
    try {
      if (q->p2p && q->done && !q->pulled && q->rbuf && q->st._ucount)
        dst_done(q->dst, q->rbuf, q->st._ucount);
    } catch (const BadCall&) {  // the app unmapped the buffer of its freed receive
    }
    areq_free(q);
    g_detached[i] = g_detached.back();
    g_detached.pop_back();
  }
}

// ---------------------------------------------------------------- p2p

namespace {

// Where a blocking receive lands: the inline area (the app reserved one byte
// more), scratch for CMA destinations, a sink for empty ones.
char* recv_ptr(const Buf& d, Scratch& s) {
  static char sink[chan::kRndvHeaderBytes + 64];
  size_t cap = recv_capacity(d);
  if (d.mode == chan::kInline && d.bytes + 1 >= cap) return g_sh->data + d.off;
  if (d.mode == chan::kNone) return sink;
  return s.get(cap);
}

// MPI_Recv of up to `cap` wire bytes into p that a job checkpoint can pause:
// an Irecv polled until it completes; on a pause it is cancelled (it
// matched nothing: ckpt::Paused propagates) or, if it matched meanwhile,
// completes as usual.
int pausable_recv(char* p, size_t cap, int src, int tag, MPI_Comm c, MPI_Status& st) {
  WireCount w(cap);
  Armed a;
  MPI_Request r;
  int rc = MPI_Irecv(p, w.count, w.type, src, tag, c, &r);
  if (rc != MPI_SUCCESS) return rc;
  if (!ckpt::wait_or_pause(&r, &st, &rc)) {
    MPI_Cancel(&r);
    MPI_Wait(&r, &st);
    int cancelled = 0;
    MPI_Test_cancelled(&st, &cancelled);
    if (cancelled) throw ckpt::Paused{chan::kRcPaused};
    rc = st.MPI_ERROR == MPI_ERR_TRUNCATE ? MPI_ERR_TRUNCATE : MPI_SUCCESS;
  }
  if ((rc == MPI_SUCCESS || rc == MPI_ERR_TRUNCATE) && st.MPI_SOURCE != MPI_PROC_NULL)
    ++ckpt::g_received;
  return rc;
}

// Blocking receive of wire bytes into p for destination d; decodes, pulls a
// rendezvous payload, delivers the rest. Looks in the stash first.
int recv_into(const Buf& d, char* p, int src, int tag, MPI_Comm c, MPI_Status& st) {
  bool pulled = false;
  int rc;
  Stashed* e = g_stash.empty() || src == MPI_PROC_NULL ? nullptr : stash_find(c, src, tag, true);
  if (e) {
    rc = stash_deliver(e, d, p, st, &pulled);
  } else {
    rc = pausable_recv(p, recv_capacity(d), src, tag, c, st);
    rc = land(d, p, st, rc, &pulled);
  }
  if (!pulled && (rc == MPI_SUCCESS || rc == MPI_ERR_TRUNCATE) && st._ucount)
    dst_done(d, p, st._ucount);
  return rc;
}

// SendArgs::rndv != 0: the app allows a rendezvous (contiguous app memory
// that stays put until completion); dest_world: the destination's world rank.
bool use_rndv(const Msg& m, int dest) {
  return m.a.send.rndv && m.src.mode == chan::kCma && dest != MPI_PROC_NULL &&
         m.a.send.mode != chan::kBuffered && rndv_local(m.a.send.dest_world);
}

uint64_t payload(const Buf& b) {
  return b.mode == chan::kNone ? 0 : b.bytes;
}

}  // namespace

void op_send(Msg& m) {
  wtype(m.a.send.type);  // checked; payloads travel as bytes
  int dest = static_cast<int>(m.a.send.dest), tag = static_cast<int>(m.a.send.tag);
  MPI_Comm c = wcomm(m.a.send.comm);
  if (m.a.send.mode == chan::kBuffered) {  // local completion: agent-owned copy
    auto* q = new AReq;
    q->sbuf = own_copy(m.src);
    q->send = true;
    q->send_bytes = payload(m.src);
    m.rc = wire_isend(q->sbuf, q->send_bytes, dest, tag, c, chan::kStandard, &q->r, &q->btype);
    q->detached = true;
    q->buffered = true;
    g_detached.push_back(q);
    reap_detached();  // a program that only ever Bsends must not accumulate them
    return;
  }
  if (use_rndv(m, dest)) {
    AReq q;
    m.rc = rndv_send_start(&q, m.src, dest, tag, c, m.a.send.dest_world);
    MPI_Status st;
    if (m.rc == MPI_SUCCESS) m.rc = wait_req(&q.r, &st);
    if (m.rc == MPI_SUCCESS) m.rc = rndv_send_finish(&q, st);
    return;
  }
  char* p = src_ptr(m.src, g_scratch[0]);
  m.rc = wire_send(p, payload(m.src), dest, tag, c, m.a.send.mode);
}

void op_recv(Msg& m) {
  wtype(m.a.recv.type);
  MPI_Status st{};
  const Buf d = m.dst;
  m.rc = recv_into(d, recv_ptr(d, g_scratch[1]), static_cast<int>(m.a.recv.source),
                   static_cast<int>(m.a.recv.tag), wcomm(m.a.recv.comm), st);
  put_status(m, st);
}

void op_isend(Msg& m) {
  wtype(m.a.send.type);
  MPI_Comm c = wcomm(m.a.send.comm);
  int dest = static_cast<int>(m.a.send.dest), tag = static_cast<int>(m.a.send.tag);
  auto* q = new AReq;
  q->send = true;
  q->send_bytes = payload(m.src);
  q->send_tag = tag;
  if (m.a.send.mode == chan::kBuffered) {  // Ibsend: complete at once, an agent copy goes later
    auto* b = new AReq;
    b->sbuf = own_copy(m.src);
    b->send = true;
    b->send_bytes = q->send_bytes;
    m.rc = wire_isend(b->sbuf, b->send_bytes, dest, tag, c, chan::kStandard, &b->r, &b->btype);
    b->detached = true;
    b->buffered = true;
    g_detached.push_back(b);
    MPI_Comm_rank(c, &q->st.MPI_SOURCE);
    q->st.MPI_TAG = tag;
    q->st._ucount = q->send_bytes;
    q->done = true;
    m.a.request.request = u(q);
    return;
  }
  if (use_rndv(m, dest)) {
    MPI_Comm_rank(c, &q->send_src);
    m.rc = rndv_send_start(q, m.src, dest, tag, c, m.a.send.dest_world);
  } else {
    q->sbuf = own_copy(m.src);
    m.rc = wire_isend(q->sbuf, q->send_bytes, dest, tag, c, m.a.send.mode, &q->r, &q->btype);
  }
  m.a.request.request = u(q);
}

// A new receive request for destination Msg::dst: from the stash (complete at
// once), or posted to MPI (and served while polling if it can get a header).
static AReq* post_recv(const Msg& m, MPI_Comm c, int src, int tag, MPI_Message* msg, Stashed* e,
                       int* posted) {
  *posted = MPI_SUCCESS;
  auto* q = new AReq;
  q->dst = m.dst;
  q->recv = true;
  q->p2p = true;
  size_t cap = recv_capacity(q->dst);
  q->rbuf = static_cast<char*>(malloc(cap));
  if (!e && !msg && !g_stash.empty() && src != MPI_PROC_NULL) e = stash_find(c, src, tag, true);
  if (e) {
    q->rc = stash_deliver(e, q->dst, q->rbuf, q->st, &q->pulled);
    q->done = true;
    return q;
  }
  WireCount w(cap);
  // A receive from a real peer is served while it is pending (a header's
  // pull; its count for the drain): an MPI_Imrecv too -- its sender counted
  // the message, so the drain balances only once we do.
  const bool peer = msg ? *msg != MPI_MESSAGE_NO_PROC : src != MPI_PROC_NULL;
  int rc = msg ? MPI_Imrecv(q->rbuf, w.count, w.type, msg, &q->r)
               : MPI_Irecv(q->rbuf, w.count, w.type, src, tag, c, &q->r);
  q->btype = w.release();   // lives as long as the request
  if (rc != MPI_SUCCESS) {  // complete at once, with that error
    *posted = rc;
    q->rc = q->st.MPI_ERROR = rc;
    q->done = true;
  } else if (peer) {
    g_rndv_recvs.insert(q);
  }
  return q;
}

void op_irecv(Msg& m) {
  wtype(m.a.recv.type);
  MPI_Comm c = wcomm(m.a.recv.comm);
  AReq* q = post_recv(m, c, static_cast<int>(m.a.recv.source), static_cast<int>(m.a.recv.tag),
                      nullptr, nullptr, &m.rc);
  m.a.request.request = u(q);
}

// Decoded size of a probed (not received) message; a header is stashed,
// with everything before it from the same source.
static void probed(MPI_Comm c, MPI_Status& st) {
  if (st.MPI_SOURCE == MPI_PROC_NULL) return;
  size_t w = st._ucount;
  if (w == chan::kRndvHeaderBytes)
    st._ucount = stashed_size(stash_through(c, st.MPI_SOURCE, st.MPI_TAG));
  else
    st._ucount = w < chan::kRndvHeaderBytes ? w : w - 1;
}

void op_probe(Msg& m, bool blocking) {
  int src = static_cast<int>(m.a.probe.source), tag = static_cast<int>(m.a.probe.tag);
  MPI_Comm c = wcomm(m.a.probe.comm);
  MPI_Status st{};
  int flag = 1;
  Stashed* e = g_stash.empty() || src == MPI_PROC_NULL ? nullptr : stash_find(c, src, tag, false);
  if (e) {
    st = e->st;
    st._ucount = stashed_size(e);
    m.rc = MPI_SUCCESS;
  } else if (blocking) {
    Armed a;
    for (flag = 0; !flag;) {  // MPI_Probe that a job checkpoint can pause
      m.rc = MPI_Iprobe(src, tag, c, &flag, &st);
      if (m.rc != MPI_SUCCESS) break;
      if (!flag) ckpt::poll_or_pause();
    }
  } else {
    Armed a;  // a program may poll with Iprobe for a message sent after a large one to us
    m.rc = MPI_Iprobe(src, tag, c, &flag, &st);
  }
  if (!e && m.rc == MPI_SUCCESS && flag) probed(c, st);
  m.a.probe.flag = flag;
  put_status(m, st);
}

// ProbeArgs source, tag, comm, blocking -> flag, message:
// an MPI_Message, or a Stashed* (a stashed message or a received header).
void op_mprobe(Msg& m) {
  int src = static_cast<int>(m.a.probe.source), tag = static_cast<int>(m.a.probe.tag);
  MPI_Comm c = wcomm(m.a.probe.comm);
  MPI_Status st{};
  MPI_Message msg = MPI_MESSAGE_NULL;
  int flag = 1;
  Stashed* e = g_stash.empty() || src == MPI_PROC_NULL ? nullptr : stash_find(c, src, tag, true);
  if (!e) {
    if (m.a.probe.blocking) {
      Armed a;
      for (flag = 0; !flag;) {  // MPI_Mprobe that a job checkpoint can pause
        m.rc = MPI_Improbe(src, tag, c, &flag, &msg, &st);
        if (m.rc != MPI_SUCCESS) break;
        if (!flag) ckpt::poll_or_pause();
      }
    } else {
      Armed a;
      m.rc = MPI_Improbe(src, tag, c, &flag, &msg, &st);
    }
    if (m.rc == MPI_SUCCESS && flag && msg != MPI_MESSAGE_NO_PROC &&
        st._ucount == chan::kRndvHeaderBytes)
      e = stash_receive(c, &msg, st);
  }
  if (e) {
    g_stash_msgs.insert(e);
    st = e->st;
    st._ucount = stashed_size(e);
    m.a.probe.message = u(e);
  } else {
    if (m.rc == MPI_SUCCESS && flag && msg != MPI_MESSAGE_NO_PROC)
      st._ucount = st._ucount < chan::kRndvHeaderBytes ? st._ucount : st._ucount - 1;
    m.a.probe.message = u(msg);
    remember_msg(msg);
  }
  m.a.probe.flag = flag;
  put_status(m, st);
}

// A message handle from op_mprobe: a stashed one (taken), or MPI's.
static Stashed* take_stashed(uint64_t w) {
  auto* e = reinterpret_cast<Stashed*>(w);
  if (!g_stash_msgs.erase(e)) return nullptr;
  return e;
}

// MrecvArgs type, count, message; dst the destination.
void op_mrecv(Msg& m) {
  wtype(m.a.mrecv.type);
  MPI_Status st{};
  const Buf d = m.dst;
  char* p = recv_ptr(d, g_scratch[1]);
  bool pulled = false;
  if (Stashed* e = take_stashed(m.a.mrecv.message)) {
    m.rc = stash_deliver(e, d, p, st, &pulled);
  } else {
    MPI_Message msg = wmsg(m.a.mrecv.message);
    WireCount w(recv_capacity(d));
    int rc = MPI_Mrecv(p, w.count, w.type, &msg, &st);
    if (st.MPI_SOURCE != MPI_PROC_NULL) ++ckpt::g_received;
    m.rc = land(d, p, st, rc, &pulled);
  }
  if (!pulled && (m.rc == MPI_SUCCESS || m.rc == MPI_ERR_TRUNCATE) && st._ucount)
    dst_done(d, p, st._ucount);
  put_status(m, st);
}

// As kOpMrecv, nonblocking: a0 agent request id.
void op_imrecv(Msg& m) {
  wtype(m.a.mrecv.type);
  Stashed* e = take_stashed(m.a.mrecv.message);
  MPI_Message msg = e ? MPI_MESSAGE_NULL : wmsg(m.a.mrecv.message);
  AReq* q = post_recv(m, MPI_COMM_NULL, MPI_ANY_SOURCE, MPI_ANY_TAG, e ? nullptr : &msg, e, &m.rc);
  m.a.request.request = u(q);
}

// Send part as an Isend, then the receive (its payload may need our pull),
// then the send's completion. (The app splits off rendezvous sends.)
void op_sendrecv(Msg& m) {
  wtype(m.a.sendrecv.stype);
  wtype(m.a.sendrecv.rtype);
  MPI_Comm c = wcomm(m.a.sendrecv.comm);
  char* s = src_ptr(m.src, g_scratch[0]);
  const Buf d = m.dst;
  char* r = recv_ptr(d, g_scratch[1]);
  MPI_Status st{};
  MPI_Request sr;
  MPI_Datatype bt;
  m.rc = wire_isend(s, payload(m.src), static_cast<int>(m.a.sendrecv.dest),
                    static_cast<int>(m.a.sendrecv.stag), c, chan::kStandard, &sr, &bt);
  if (m.rc != MPI_SUCCESS) return;
  int rrc;
  try {
    rrc = recv_into(d, r, static_cast<int>(m.a.sendrecv.source),
                    static_cast<int>(m.a.sendrecv.rtag), c, st);
  } catch (const ckpt::Paused&) {
    // The send part is on its way (the drain completes it): the app makes
    // only the receive again.  The buffer is the call's own (inline or
    // scratch), so the send must be done before the next call: wait here.
    wait_req(&sr, MPI_STATUS_IGNORE);
    if (bt != MPI_DATATYPE_NULL) MPI_Type_free(&bt);
    throw ckpt::Paused{chan::kRcPausedSent};
  }
  int src = wait_req(&sr, MPI_STATUS_IGNORE);
  if (bt != MPI_DATATYPE_NULL) MPI_Type_free(&bt);
  m.rc = rrc != MPI_SUCCESS ? rrc : src;
  put_status(m, st);
}

// ---------------------------------------------------------------- completion

namespace {

bool is_wait(uint64_t kind) {
  return kind == chan::kWait || kind == chan::kWaitany || kind == chan::kWaitall ||
         kind == chan::kWaitsome;
}
uint64_t as_test(uint64_t kind) {
  switch (kind) {
    case chan::kWait:
      return chan::kTest;
    case chan::kWaitany:
      return chan::kTestany;
    case chan::kWaitall:
      return chan::kTestall;
    case chan::kWaitsome:
      return chan::kTestsome;
    default:
      return kind;
  }
}

// One MPI_Wait*/Test* over rs; completed indices into fin, statuses by index.
int run_complete(uint64_t kind, std::vector<MPI_Request>& rs, std::vector<MPI_Status>& sts,
                 std::vector<int>& fin, int* flag) {
  int n = static_cast<int>(rs.size()), one = -1, outc = 0, rc = MPI_SUCCESS;
  std::vector<MPI_Status> st(n > 0 ? n : 1);
  std::vector<int> idx(n > 0 ? n : 1);
  *flag = 0;
  switch (kind) {
    case chan::kWait:
      rc = MPI_Wait(&rs[0], &st[0]);
      *flag = 1;
      break;
    case chan::kTest:
      rc = MPI_Test(&rs[0], flag, &st[0]);
      break;
    case chan::kGetStatus:
      rc = MPI_Request_get_status(rs[0], flag, &st[0]);
      break;
    case chan::kWaitany:
      rc = MPI_Waitany(n, rs.data(), &one, &st[0]);
      *flag = 1;
      break;
    case chan::kTestany:
      rc = MPI_Testany(n, rs.data(), &one, flag, &st[0]);
      break;
    case chan::kWaitall:
      rc = MPI_Waitall(n, rs.data(), st.data());
      *flag = 1;
      break;
    case chan::kTestall:
      rc = MPI_Testall(n, rs.data(), flag, st.data());
      break;
    case chan::kWaitsome:
      rc = MPI_Waitsome(n, rs.data(), &outc, idx.data(), st.data());
      break;
    case chan::kTestsome:
      rc = MPI_Testsome(n, rs.data(), &outc, idx.data(), st.data());
      break;
  }
  if (kind == chan::kWait || kind == chan::kTest || kind == chan::kGetStatus) {
    if (*flag && n) fin.push_back(0), sts[0] = st[0];
  } else if (kind == chan::kWaitany || kind == chan::kTestany) {
    if (one >= 0) fin.push_back(one), sts[one] = st[0];
  } else if (kind == chan::kWaitall || kind == chan::kTestall) {
    if (*flag || rc == MPI_ERR_IN_STATUS)
      for (int i = 0; i < n; ++i)
        if (rc != MPI_ERR_IN_STATUS || st[i].MPI_ERROR != MPI_ERR_PENDING)
          fin.push_back(i), sts[i] = st[i];
  } else if (outc != MPI_UNDEFINED) {
    for (int k = 0; k < outc; ++k) fin.push_back(idx[k]), sts[idx[k]] = st[k];
    *flag = outc > 0;
  }
  return rc;
}

}  // namespace

namespace {

// One kOpComplete: its kind, its requests (nullptr for the app's null or
// locally complete ones), their statuses, and which ones completed.
struct Completion {
  uint64_t kind;
  int n;
  std::vector<AReq*> qs;
  std::vector<MPI_Status> sts;
  std::vector<int> fin;
  int flag = 0, rc = MPI_SUCCESS;
  bool single() const {
    return kind == chan::kWait || kind == chan::kTest || kind == chan::kGetStatus;
  }
  bool any() const { return kind == chan::kWaitany || kind == chan::kTestany; }
  bool all() const { return kind == chan::kWaitall || kind == chan::kTestall; }
};

// The request ids the app wrote at the start of data[].
Completion read_requests(const Msg& m) {
  Completion c{m.a.complete.kind, static_cast<int>(m.a.complete.n), {}, {}, {}};
  if (c.n < 0 || static_cast<size_t>(c.n) * 64 > chan::kDataSize)
    throw BadCall{"too many requests"};
  auto* ids = reinterpret_cast<uint64_t*>(g_sh->data);
  c.qs.resize(c.n);
  for (int i = 0; i < c.n; ++i) c.qs[i] = ids[i] ? areq(ids[i]) : nullptr;
  c.sts.resize(c.n > 0 ? c.n : 1);
  return c;
}

// Requests already complete (q->done) answer Wait/Test/any/some by
// themselves. Returns true if some did (c.fin lists them).
bool take_done(Completion& c) {
  if (c.all()) return false;
  for (int i = 0; i < c.n; ++i)
    if (c.qs[i] && c.qs[i]->done) {
      c.fin.push_back(i);
      if (c.single() || c.any()) break;
    }
  if (c.fin.empty()) return false;
  c.flag = 1;
  return true;
}

// MPI_Request_get_status on a complete receive: decode (and maybe pull) it
// now, waiting for it for real; the app keeps its request and the next Wait
// reports it.
void settle_get_status(Completion& c) {
  AReq* q = c.qs[0];
  if (c.flag && q && q->p2p) {
    MPI_Status s;
    int k = MPI_Wait(&q->r, &s);
    recv_completed(q, s, k);
  }
  if (c.flag && q && q->send) c.sts[0]._ucount = q->send_bytes;
}

// Complete the requests with MPI, decoding each completed point-to-point
// request as it completes. A Wait* polls as its Test* form while
// rendezvous receives are pending, serving them between polls.
void complete_with_mpi(Completion& c) {
  serve_pending();
  for (;;) {
    if (take_done(c)) return;
    std::vector<MPI_Request> rs(c.n);
    for (int i = 0; i < c.n; ++i) rs[i] = c.qs[i] && !c.qs[i]->done ? c.qs[i]->r : MPI_REQUEST_NULL;
    // A Wait* polls when it must serve rendezvous receives meanwhile, and
    // when a job checkpoint may have to pause it.
    bool poll = is_wait(c.kind) && (!g_rndv_recvs.empty() || ckpt::enabled());
    c.rc = run_complete(poll ? as_test(c.kind) : c.kind, rs, c.sts, c.fin, &c.flag);
    if (c.kind == chan::kGetStatus) {
      settle_get_status(c);
      return;
    }
    for (int i : c.fin) {
      AReq* q = c.qs[i];
      if (!q || q->done) continue;
      q->r = rs[i];
      int err = c.rc == MPI_ERR_IN_STATUS ? c.sts[i].MPI_ERROR : c.rc;
      if (q->p2p) recv_completed(q, c.sts[i], err);
      if (q->send) q->rc = send_completed(q, c.sts[i], err);
    }
    if (c.flag || !c.fin.empty() || !poll) return;
    c.fin.clear();
    serve_pending();
    ckpt::poll_or_pause();  // nothing completed: the requests stay as they are
  }
}

// Where the reply goes in data[] (layout above op_complete).
struct CompleteReply {
  chan::WireStatus* wst;
  int64_t* ioff;
  uint8_t* done;
  size_t pos;  // next free payload offset
};

CompleteReply reply_layout(int n) {
  auto* ids = reinterpret_cast<uint64_t*>(g_sh->data);
  CompleteReply r;
  r.wst = reinterpret_cast<chan::WireStatus*>(ids + n);
  r.ioff = reinterpret_cast<int64_t*>(r.wst + n);
  r.done = reinterpret_cast<uint8_t*>(r.ioff + n);
  r.pos = (reinterpret_cast<char*>(r.done + n) - g_sh->data + 63) & ~size_t{63};
  for (int i = 0; i < n; ++i) {
    r.done[i] = 0;
    r.ioff[i] = -1;
  }
  return r;
}

// Deliver a completed request's data: inline after the reply arrays when
// small enough and there is room, else straight into the app (CMA).
void deliver(AReq* q, const MPI_Status& s, CompleteReply& r, int i) {
  size_t bytes = q->recv ? s._ucount : q->dst.bytes;
  if (!q->rbuf || q->pulled || s._cancelled || !bytes) return;
  if (bytes > q->dst.bytes) bytes = q->dst.bytes;
  bool fits = r.pos + bytes <= chan::kDataSize;
  if (!fits || (q->dst.mode == chan::kCma && bytes > 65536)) {
    cma(true, q->dst.addr, q->rbuf, bytes);
    return;
  }
  memcpy(g_sh->data + r.pos, q->rbuf, bytes);
  r.ioff[i] = static_cast<int64_t>(r.pos);
  r.pos = (r.pos + bytes + 63) & ~size_t{63};
}

// Write every completed request's status and data into the reply, fold the
// errors of requests that failed earlier into the call's error code, and
// free the requests. Sets the reply's index/outcount/flag in m.
void write_reply(Completion& c, Msg& m) {
  CompleteReply r = reply_layout(c.n);
  int one = -1, outc = 0;
  for (int i : c.fin) {
    AReq* q = c.qs[i];
    if (!q) continue;
    MPI_Status* s = q->done ? &q->st : &c.sts[i];
    if ((q->done || q->send) && q->rc != MPI_SUCCESS) {
      s->MPI_ERROR = q->rc;
      c.rc = c.single() || c.any() ? q->rc : MPI_ERR_IN_STATUS;
    }
    r.done[i] = 1;
    one = one < 0 ? i : one;
    ++outc;
    r.wst[i] = {s->MPI_SOURCE, s->MPI_TAG, s->MPI_ERROR,
                s->_cancelled, s->_ucount, s->MPI_ERROR == MPI_SUCCESS ? adopt_made(q) : 0};
    deliver(q, *s, r, i);
    if (c.kind != chan::kGetStatus) areq_free(q);
  }
  if (c.any()) {
    c.flag = one >= 0 ? 1 : c.flag;
    if (c.fin.empty()) one = -1;
  }
  m.rc = c.rc;
  m.a.complete.index = static_cast<uint64_t>(one);
  bool some = c.kind == chan::kWaitsome || c.kind == chan::kTestsome;
  m.a.complete.outcount = static_cast<uint64_t>(some ? outc : 0);
  m.a.complete.flag = static_cast<uint64_t>(c.flag);
}

}  // namespace

// Reply layout of kOpComplete in data[]: reqs[n] (u64, input), status[n]
// (WireStatus), inline_off[n] (i64, -1 = none), done[n] (u8), then payloads.
//
// Algorithm: requests completed outside MPI (q->done: stashed or served
// receives) answer Wait/Test/any/some by themselves; the others go to MPI,
// where a completed point-to-point receive is decoded (and pulled) at once.
// A Wait* polls as its Test* form while rendezvous receives are pending.
void op_complete(Msg& m) {
  reap_detached();
  Completion c = read_requests(m);
  complete_with_mpi(c);
  if (c.all() && c.flag && c.rc == MPI_SUCCESS) {  // every request: MPI's and ours
    c.fin.clear();
    for (int i = 0; i < c.n; ++i)
      if (c.qs[i]) c.fin.push_back(i);
  }
  write_reply(c, m);
}

int settle_request(AReq* q) {
  if (q->done || q->r == MPI_REQUEST_NULL) return 0;
  MPI_Status st{};
  int rc;
  if (q->p2p) {
    MPI_Cancel(&q->r);
    rc = MPI_Wait(&q->r, &st);  // a cancelled receive completes at once
    int cancelled = 0;
    MPI_Test_cancelled(&st, &cancelled);
    if (cancelled) {
      g_rndv_recvs.erase(q);
      q->st = st;
      q->st._cancelled = 1;
      q->st._ucount = 0;
      q->rc = MPI_SUCCESS;
      q->done = true;
      q->r = MPI_REQUEST_NULL;
      return 0;
    }
    recv_completed(q, st, rc);
    return 0;
  }
  // A send (its receiver drained it) or a nonblocking collective (every
  // member entered it): it completes.
  rc = ckpt::wait_through(&q->r, &st);
  q->rc = q->send ? send_completed(q, st, rc) : rc;
  q->st = st;
  q->done = true;
  if (rc == MPI_SUCCESS) adopt_made(q);  // counted before the capture
  return 0;
}

void op_cancel(Msg& m) {
  AReq* q = areq(m.a.request.request);
  // A rendezvous send is not cancelled (the receiver may be pulling); MPI
  // allows a cancel to fail, and the request then completes normally.
  if (q->done || q->rndv || q->r == MPI_REQUEST_NULL) {
    m.rc = MPI_SUCCESS;
    return;
  }
  m.rc = MPI_Cancel(&q->r);
}

void op_request_free(Msg& m) {
  AReq* q = areq(m.a.request.request);
  q->detached = true;
  g_detached.push_back(q);
  reap_detached();
  m.rc = MPI_SUCCESS;
}

void op_bsend_flush(Msg& m) {
  for (AReq* q : g_detached)
    if (q->buffered && !q->done && q->r != MPI_REQUEST_NULL) {  // not freed ordinary sends
      MPI_Status st;
      int rc = wait_req(&q->r, &st);
      if (q->send) send_completed(q, st, rc);
      q->done = true;
    }
  reap_detached();
  m.rc = MPI_SUCCESS;
}

}  // namespace crmpi::agent::internal

namespace crmpi::agent {

using namespace internal;

void run_posted_sends() {
  uint64_t head = g_sh->async_head.load(std::memory_order_relaxed);
  uint64_t tail = g_sh->async_tail.load(std::memory_order_acquire);
  while (head != tail) {
    auto* h = reinterpret_cast<chan::AsyncSend*>(g_sh->async_ring + head % chan::kAsyncSize);
    if (h->size == 0) {  // wrap marker
      head += chan::kAsyncSize - head % chan::kAsyncSize;
      continue;
    }
    int rc;
    try {
      wtype(h->type);
      if (h->bytes > chan::kAsyncMaxPayload ||
          sizeof(chan::AsyncSend) + chan::wire_bytes(h->bytes) > h->size)
        throw BadCall{"posted send larger than its entry"};
      rc = wire_send(reinterpret_cast<char*>(h + 1), h->bytes, static_cast<int>(h->dest),
                     static_cast<int>(h->tag), wcomm(h->comm), chan::kStandard);
    } catch (const BadCall& e) {
      fprintf(stderr, "crmpi: rank %d: agent rejected a posted send: %s\n", g_rank, e.what);
      rc = MPI_ERR_ARG;
    }
    if (rc != MPI_SUCCESS && !g_sh->async_rc.load()) {
      g_sh->async_comm = h->comm;
      g_sh->async_rc.store(rc);
    }
    head += h->size;
  }
  g_sh->async_head.store(head, std::memory_order_release);
}

}  // namespace crmpi::agent
