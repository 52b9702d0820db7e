// cr_agent: execution of channel calls on the real Open MPI.
//
// Algorithm (buffers): a call names its source and destination buffers with
// chan::Buf. INLINE buffers are used in place in the channel's data area;
// CMA buffers are copied from/to the app with process_vm_readv/writev through
// agent scratch memory. Nonblocking operations own private copies (AReq) until
// completion, when received bytes are delivered: inline into the reply when
// small, else by CMA. Calls using a user op never use the data area in place,
// because the op's callbacks reuse it.
#include <sys/uio.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "agent.h"
#include "agent_internal.h"

namespace crmpi::agent {
namespace internal {

using chan::Buf;
using chan::Msg;

bool g_app_init = false, g_app_fin = false;
std::vector<void*> g_predef;

// ---------------------------------------------------------------- memory

Scratch g_scratch[3];

void cma(bool write, uint64_t addr, char* local, size_t n) {
  size_t done = 0;
  while (done < n) {
    iovec l{local + done, n - done}, r{reinterpret_cast<void*>(addr + done), n - done};
    ssize_t k = write ? process_vm_writev(g_app, &l, 1, &r, 1, 0)
                      : process_vm_readv(g_app, &l, 1, &r, 1, 0);
    if (k <= 0) {
      fprintf(stderr, "crmpi: rank %d: process_vm_%s of %zu bytes at %#lx failed: %m\n", g_rank,
              write ? "writev" : "readv", n, static_cast<unsigned long>(addr));
      throw BadCall{"cannot access the app's memory"};
    }
    done += k;
  }
}

// Pointer to a source buffer's bytes. `priv` forces a private copy.
char* src_ptr(const Buf& b, Scratch& s, bool priv) {
  switch (b.mode) {
    case chan::kInline:
      if (!priv) return g_sh->data + b.off;
      return static_cast<char*>(memcpy(s.get(b.bytes), g_sh->data + b.off, b.bytes));
    case chan::kCma: {
      char* p = s.get(b.bytes);
      cma(false, b.addr, p, b.bytes);
      return p;
    }
    case chan::kInPlace:
      return static_cast<char*>(MPI_IN_PLACE);
    default:
      return nullptr;
  }
}

char* dst_ptr(const Buf& b, Scratch& s, bool priv) {
  if (b.mode == chan::kInPlace) return static_cast<char*>(MPI_IN_PLACE);
  if (b.mode == chan::kInline && !priv) return g_sh->data + b.off;
  if (b.mode == chan::kNone) return nullptr;
  char* p = s.get(b.bytes);
  if (b.prefill) {
    if (b.mode == chan::kInline)
      memcpy(p, g_sh->data + b.off, b.bytes);
    else
      cma(false, b.addr, p, b.bytes);
  }
  return p;
}

void dst_done(const Buf& b, char* p, size_t n) {
  if (b.mode == chan::kInPlace) return;
  if (n > b.bytes) n = b.bytes;
  if (b.mode == chan::kCma)
    cma(true, b.addr, p, n);
  else if (b.mode == chan::kInline && p != g_sh->data + b.off)
    memcpy(g_sh->data + b.off, p, n);
}

// ---------------------------------------------------------------- handles

std::map<uint64_t, MPI_Datatype> g_bytes_types;

std::unordered_set<uint64_t> g_known_types, g_known_ops, g_known_comms, g_known_msgs;
std::unordered_set<AReq*> g_live;

MPI_Datatype wtype(uint64_t w) {
  if (!(w & chan::kBytesType)) {
    if (!g_known_types.count(w)) throw BadCall{"unknown datatype"};
    return reinterpret_cast<MPI_Datatype>(w);
  }
  uint64_t n = w & ~chan::kBytesType;
  if (n == 0 || n > INT32_MAX) throw BadCall{"bad packed element size"};
  auto it = g_bytes_types.find(n);
  if (it != g_bytes_types.end()) return it->second;
  MPI_Datatype t;
  MPI_Type_contiguous(static_cast<int>(n), MPI_BYTE, &t);
  MPI_Type_commit(&t);
  return g_bytes_types[n] = t;
}
MPI_Comm wcomm(uint64_t w) {
  if (!g_known_comms.count(w)) throw BadCall{"unknown communicator"};
  return reinterpret_cast<MPI_Comm>(w);
}
void remember_comm(MPI_Comm c) {
  g_known_comms.insert(u(c));
}
void forget_comm(MPI_Comm c) {
  g_known_comms.erase(u(c));
}
MPI_Message wmsg(uint64_t w) {
  if (!g_known_msgs.count(w)) throw BadCall{"unknown message"};
  g_known_msgs.erase(w);  // a message is received once
  return reinterpret_cast<MPI_Message>(w);
}
void remember_msg(MPI_Message m) {
  if (m != MPI_MESSAGE_NULL && m != MPI_MESSAGE_NO_PROC) g_known_msgs.insert(u(m));
}
AReq::AReq() {
  g_live.insert(this);
}
AReq::~AReq() {
  g_live.erase(this);
}
AReq* areq(uint64_t id) {
  auto* q = reinterpret_cast<AReq*>(id);
  if (!g_live.count(q)) throw BadCall{"unknown request"};
  return q;
}
MPI_Op wop(uint64_t w) {
  if (w == 0) return MPI_OP_NULL;
  if (!g_known_ops.count(w)) throw BadCall{"unknown op"};
  return reinterpret_cast<MPI_Op>(w);
}

void put_status(Msg& m, const MPI_Status& st) {
  m.a[10] = static_cast<uint64_t>(st.MPI_SOURCE);
  m.a[11] = static_cast<uint64_t>(st.MPI_TAG);
  m.a[12] = static_cast<uint64_t>(st.MPI_ERROR);
  m.a[13] = st._ucount;
  m.a[14] = static_cast<uint64_t>(st._cancelled);
}

// ---------------------------------------------------------------- user ops

// Algorithm: each collective with a user op reduces over a fresh dup of its
// element type; g_userop maps that type to the app's op and type so the
// trampoline can call back. Elements are sent in chunks that fit the data area.
struct UserOpCall {
  uint64_t app_op, app_type, esize;
};
std::map<MPI_Datatype, UserOpCall> g_userop;

void trampoline(void* in, void* inout, int* len, MPI_Datatype* dt) {
  auto it = g_userop.find(*dt);
  if (it == g_userop.end()) {
    fprintf(stderr, "crmpi: user op called on an unknown datatype\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  const UserOpCall& c = it->second;
  size_t per = chan::kDataSize / 2 / (c.esize ? c.esize : 1);
  if (per == 0) {
    fprintf(stderr, "crmpi: user op element too large for the channel\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  Msg saved = g_sh->msg;
  for (size_t done = 0; done < static_cast<size_t>(*len);) {
    size_t n = std::min<size_t>(per, *len - done);
    char* a = static_cast<char*>(in) + done * c.esize;
    char* b = static_cast<char*>(inout) + done * c.esize;
    memcpy(g_sh->data, a, n * c.esize);
    memcpy(g_sh->data + chan::kDataSize / 2, b, n * c.esize);
    Msg& m = g_sh->msg;
    m.kind = chan::kCallback;
    m.a[0] = c.app_op;
    m.a[1] = c.app_type;
    m.a[2] = n;
    uint32_t seen = g_sh->req_seq.load();
    uint32_t call = g_sh->call_seq.load();
    chan::ring(g_sh->rep_seq, g_sh->app_sleeping);
    static chan::Spin spin{50000, 2000, 50000, &g_sh->agent_cpu, &g_sh->app_cpu};
    while (g_sh->call_seq.load(std::memory_order_acquire) == call)
      seen = chan::wait_change(g_sh->req_seq, g_sh->agent_sleeping, seen, spin, nullptr);
    memcpy(b, g_sh->data + chan::kDataSize / 2, n * c.esize);
    done += n;
  }
  g_sh->msg = saved;
  g_sh->msg.kind = chan::kReply;
}

MPI_Datatype userop_type(MPI_Datatype t, uint64_t app_op, uint64_t app_type) {
  MPI_Datatype d;
  MPI_Type_dup(t, &d);
  MPI_Aint lb, ext;
  MPI_Type_get_extent(d, &lb, &ext);
  g_userop[d] = {app_op, app_type, static_cast<uint64_t>(ext)};
  return d;
}
void userop_type_free(MPI_Datatype d) {
  g_userop.erase(d);
  MPI_Type_free(&d);
}

// ---------------------------------------------------------------- requests

std::vector<AReq*> g_detached;

char* own_copy(const Buf& b) {
  if (b.mode == chan::kNone || b.mode == chan::kInPlace || b.bytes == 0) return nullptr;
  char* p = static_cast<char*>(malloc(b.bytes));
  if (b.mode == chan::kInline)
    memcpy(p, g_sh->data + b.off, b.bytes);
  else
    cma(false, b.addr, p, b.bytes);
  return p;
}
char* own_dst(const Buf& b) {
  if (b.mode == chan::kInPlace) return static_cast<char*>(MPI_IN_PLACE);
  if (b.mode == chan::kNone || b.bytes == 0) return nullptr;
  char* p = static_cast<char*>(malloc(b.bytes));
  if (b.prefill) {
    if (b.mode == chan::kInline)
      memcpy(p, g_sh->data + b.off, b.bytes);
    else
      cma(false, b.addr, p, b.bytes);
  }
  return p;
}
void areq_free(AReq* q) {
  free(q->sbuf);
  free(q->rbuf);
  if (q->utype != MPI_DATATYPE_NULL) userop_type_free(q->utype);
  delete q;
}
void reap_detached() {
  for (size_t i = 0; i < g_detached.size();) {
    int flag = 1;
    if (g_detached[i]->r != MPI_REQUEST_NULL) MPI_Test(&g_detached[i]->r, &flag, MPI_STATUS_IGNORE);
    if (flag) {
      areq_free(g_detached[i]);
      g_detached[i] = g_detached.back();
      g_detached.pop_back();
    } else {
      ++i;
    }
  }
}

// ---------------------------------------------------------------- p2p

int isend(MPI_Datatype t, int count, int dest, int tag, MPI_Comm c, uint64_t mode, char* buf,
          MPI_Request* r) {
  switch (mode) {
    case chan::kSync:
      return MPI_Issend(buf, count, t, dest, tag, c, r);
    case chan::kReady:
      return MPI_Irsend(buf, count, t, dest, tag, c, r);
    default:
      return MPI_Isend(buf, count, t, dest, tag, c, r);
  }
}

void op_send(Msg& m) {
  MPI_Datatype t = wtype(m.a[0]);
  int count = static_cast<int>(m.a[1]), dest = static_cast<int>(m.a[2]),
      tag = static_cast<int>(m.a[3]);
  MPI_Comm c = wcomm(m.a[4]);
  if (m.a[5] == chan::kBuffered) {  // local completion: agent-owned copy
    auto* q = new AReq;
    q->sbuf = own_copy(m.b[0]);
    m.rc = MPI_Isend(q->sbuf, count, t, dest, tag, c, &q->r);
    q->detached = true;
    g_detached.push_back(q);
    reap_detached();  // a program that only ever Bsends must not accumulate them
    return;
  }
  char* p = src_ptr(m.b[0], g_scratch[0]);
  switch (m.a[5]) {
    case chan::kSync:
      m.rc = MPI_Ssend(p, count, t, dest, tag, c);
      break;
    case chan::kReady:
      m.rc = MPI_Rsend(p, count, t, dest, tag, c);
      break;
    default:
      m.rc = MPI_Send(p, count, t, dest, tag, c);
  }
}

void op_recv(Msg& m) {
  MPI_Status st;
  char* p = dst_ptr(m.b[1], g_scratch[1]);
  m.rc = MPI_Recv(p, static_cast<int>(m.a[1]), wtype(m.a[0]), static_cast<int>(m.a[2]),
                  static_cast<int>(m.a[3]), wcomm(m.a[4]), &st);
  if (m.rc == MPI_SUCCESS) dst_done(m.b[1], p, st._ucount);
  put_status(m, st);
}

void op_isend(Msg& m) {
  MPI_Datatype t = wtype(m.a[0]);
  MPI_Comm c = wcomm(m.a[4]);
  auto* q = new AReq;
  q->sbuf = own_copy(m.b[0]);
  m.rc = isend(t, static_cast<int>(m.a[1]), static_cast<int>(m.a[2]), static_cast<int>(m.a[3]), c,
               m.a[5], q->sbuf, &q->r);
  m.a[0] = u(q);
}

void op_irecv(Msg& m) {
  MPI_Datatype t = wtype(m.a[0]);
  MPI_Comm c = wcomm(m.a[4]);
  auto* q = new AReq;
  q->dst = m.b[1];
  q->recv = true;
  q->rbuf = own_dst(m.b[1]);
  m.rc = MPI_Irecv(q->rbuf, static_cast<int>(m.a[1]), t, static_cast<int>(m.a[2]),
                   static_cast<int>(m.a[3]), c, &q->r);
  m.a[0] = u(q);
}

void op_probe(Msg& m, bool blocking) {
  MPI_Status st{};
  int flag = 1;
  if (blocking)
    m.rc = MPI_Probe(static_cast<int>(m.a[0]), static_cast<int>(m.a[1]), wcomm(m.a[2]), &st);
  else
    m.rc =
        MPI_Iprobe(static_cast<int>(m.a[0]), static_cast<int>(m.a[1]), wcomm(m.a[2]), &flag, &st);
  m.a[9] = flag;
  put_status(m, st);
}

// a[0] src, a[1] tag, a[2] comm, a[3] blocking -> a[9] flag, a[8] message.
void op_mprobe(Msg& m) {
  MPI_Status st{};
  MPI_Message msg = MPI_MESSAGE_NULL;
  int flag = 1;
  if (m.a[3])
    m.rc = MPI_Mprobe(static_cast<int>(m.a[0]), static_cast<int>(m.a[1]), wcomm(m.a[2]), &msg, &st);
  else
    m.rc = MPI_Improbe(static_cast<int>(m.a[0]), static_cast<int>(m.a[1]), wcomm(m.a[2]), &flag,
                       &msg, &st);
  m.a[9] = flag;
  m.a[8] = u(msg);
  remember_msg(msg);
  put_status(m, st);
}

// a[0] type, a[1] count, a[8] message; b[1] destination.
void op_mrecv(Msg& m) {
  MPI_Status st;
  MPI_Message msg = wmsg(m.a[8]);
  char* p = dst_ptr(m.b[1], g_scratch[1]);
  m.rc = MPI_Mrecv(p, static_cast<int>(m.a[1]), wtype(m.a[0]), &msg, &st);
  if (m.rc == MPI_SUCCESS) dst_done(m.b[1], p, st._ucount);
  put_status(m, st);
}

// As kOpMrecv, nonblocking: a0 agent request id.
void op_imrecv(Msg& m) {
  MPI_Datatype t = wtype(m.a[0]);
  MPI_Message msg = wmsg(m.a[8]);
  auto* q = new AReq;
  q->dst = m.b[1];
  q->recv = true;
  q->rbuf = own_dst(m.b[1]);
  m.rc = MPI_Imrecv(q->rbuf, static_cast<int>(m.a[1]), t, &msg, &q->r);
  m.a[0] = u(q);
}

void op_sendrecv(Msg& m) {
  MPI_Status st;
  char* s = src_ptr(m.b[0], g_scratch[0]);
  char* r = dst_ptr(m.b[1], g_scratch[1]);
  m.rc = MPI_Sendrecv(s, static_cast<int>(m.a[1]), wtype(m.a[0]), static_cast<int>(m.a[2]),
                      static_cast<int>(m.a[3]), r, static_cast<int>(m.a[7]), wtype(m.a[6]),
                      static_cast<int>(m.a[8]), static_cast<int>(m.a[9]), wcomm(m.a[4]), &st);
  if (m.rc == MPI_SUCCESS) dst_done(m.b[1], r, st._ucount);
  put_status(m, st);
}

// Reply layout of kOpComplete in data[]: reqs[n] (u64, input), status[n]
// (WireStatus), inline_off[n] (i64, -1 = none), done[n] (u8), then payloads.
void op_complete(Msg& m) {
  reap_detached();
  uint64_t kind = m.a[0];
  int n = static_cast<int>(m.a[1]);
  auto* ids = reinterpret_cast<uint64_t*>(g_sh->data);
  auto* wst = reinterpret_cast<chan::WireStatus*>(ids + n);
  auto* ioff = reinterpret_cast<int64_t*>(wst + n);
  auto* done = reinterpret_cast<uint8_t*>(ioff + n);
  size_t pos = (reinterpret_cast<char*>(done + n) - g_sh->data + 63) & ~size_t{63};
  if (n < 0 || static_cast<size_t>(n) * 64 > chan::kDataSize) throw BadCall{"too many requests"};
  std::vector<MPI_Request> rs(n);
  std::vector<MPI_Status> st(n);
  std::vector<int> idx(n);
  // User-op callbacks during completion reuse the data area: keep the ids.
  std::vector<uint64_t> idv(ids, ids + n);
  for (int i = 0; i < n; ++i) rs[i] = idv[i] ? areq(idv[i])->r : MPI_REQUEST_NULL;
  int flag = 0, one = -1, outc = 0;
  switch (kind) {
    case chan::kWait:
      m.rc = MPI_Wait(&rs[0], &st[0]);
      flag = 1;
      break;
    case chan::kTest:
      m.rc = MPI_Test(&rs[0], &flag, &st[0]);
      break;
    case chan::kWaitany:
      m.rc = MPI_Waitany(n, rs.data(), &one, &st[0]);
      flag = 1;
      break;
    case chan::kTestany:
      m.rc = MPI_Testany(n, rs.data(), &one, &flag, &st[0]);
      break;
    case chan::kWaitall:
      m.rc = MPI_Waitall(n, rs.data(), st.data());
      flag = 1;
      break;
    case chan::kTestall:
      m.rc = MPI_Testall(n, rs.data(), &flag, st.data());
      break;
    case chan::kWaitsome:
      m.rc = MPI_Waitsome(n, rs.data(), &outc, idx.data(), st.data());
      break;
    case chan::kTestsome:
      m.rc = MPI_Testsome(n, rs.data(), &outc, idx.data(), st.data());
      break;
    case chan::kGetStatus:
      m.rc = MPI_Request_get_status(rs[0], &flag, &st[0]);
      break;
  }
  for (int i = 0; i < n; ++i) {
    ids[i] = idv[i];
    done[i] = 0;
    ioff[i] = -1;
  }
  // Which requests completed, and where their status is.
  std::vector<std::pair<int, MPI_Status*>> fin;
  if (kind == chan::kWait || kind == chan::kTest || kind == chan::kGetStatus) {
    if (flag && n) fin.push_back({0, &st[0]});
  } else if (kind == chan::kWaitany || kind == chan::kTestany) {
    if (one >= 0) fin.push_back({one, &st[0]});
  } else if (kind == chan::kWaitall || kind == chan::kTestall) {
    if (flag || m.rc == MPI_ERR_IN_STATUS)
      for (int i = 0; i < n; ++i)
        if (ids[i] && (m.rc != MPI_ERR_IN_STATUS || st[i].MPI_ERROR != MPI_ERR_PENDING))
          fin.push_back({i, &st[i]});
  } else if (outc != MPI_UNDEFINED) {
    for (int k = 0; k < outc; ++k) fin.push_back({idx[k], &st[k]});
  }
  for (auto [i, s] : fin) {
    AReq* q = reinterpret_cast<AReq*>(ids[i]);
    if (!q) continue;
    done[i] = 1;
    wst[i] = {s->MPI_SOURCE, s->MPI_TAG, s->MPI_ERROR, s->_cancelled, s->_ucount};
    size_t bytes = q->recv ? s->_ucount : q->dst.bytes;
    if (q->rbuf && !s->_cancelled && bytes) {
      if (bytes > q->dst.bytes) bytes = q->dst.bytes;
      if (q->dst.mode == chan::kCma && (bytes > 65536 || pos + bytes > chan::kDataSize)) {
        cma(true, q->dst.addr, q->rbuf, bytes);
      } else if (pos + bytes <= chan::kDataSize) {
        memcpy(g_sh->data + pos, q->rbuf, bytes);
        ioff[i] = static_cast<int64_t>(pos);
        pos = (pos + bytes + 63) & ~size_t{63};
      } else {
        cma(true, q->dst.addr, q->rbuf, bytes);
      }
    }
    if (kind != chan::kGetStatus) areq_free(q);
  }
  m.a[2] = static_cast<uint64_t>(one);
  m.a[3] = static_cast<uint64_t>(outc);
  m.a[4] = static_cast<uint64_t>(flag);
}

void op_cancel(Msg& m) {
  m.rc = MPI_Cancel(&areq(m.a[0])->r);
}

void op_request_free(Msg& m) {
  AReq* q = areq(m.a[0]);
  q->detached = true;
  g_detached.push_back(q);
  reap_detached();
  m.rc = MPI_SUCCESS;
}

void op_bsend_flush(Msg& m) {
  for (AReq* q : g_detached)
    if (q->r != MPI_REQUEST_NULL) MPI_Wait(&q->r, MPI_STATUS_IGNORE);
  reap_detached();
  m.rc = MPI_SUCCESS;
}

// ---------------------------------------------------------------- misc

void op_hello(Msg& m) {
  g_app_init = true;
  int rank, size, flag;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  m.a[0] = rank;
  m.a[1] = size;
  m.a[2] = u(MPI_COMM_WORLD);
  m.a[3] = u(MPI_COMM_SELF);
  int* v;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &v, &flag);
  m.a[4] = flag ? *v : 32767;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_WTIME_IS_GLOBAL, &v, &flag);
  m.a[5] = flag ? *v : 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &v, &flag);
  m.a[6] = flag ? *v : size;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_APPNUM, &v, &flag);
  m.a[7] = flag ? *v : 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_HOST, &v, &flag);
  m.a[8] = flag ? *v : MPI_PROC_NULL;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_IO, &v, &flag);
  m.a[9] = flag ? *v : MPI_ANY_SOURCE;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_LASTUSEDCODE, &v, &flag);
  m.a[10] = flag ? *v : MPI_ERR_LASTCODE;
  // data: n handles (u64), per datatype 5 x i64 (size, lb, extent, true_lb,
  // true_extent), then the processor name.
  size_t n = g_predef.size();
  m.a[11] = n;
  auto* h = reinterpret_cast<uint64_t*>(g_sh->data);
  auto* info = reinterpret_cast<int64_t*>(h + n);
  for (size_t i = 0; i < n; ++i) h[i] = u(g_predef[i]);
  size_t k = 0;
#define X(KIND, NAME, SYM)                                                     \
  if (std::string_view(#KIND) == "Datatype") {                                 \
    MPI_Datatype t = reinterpret_cast<MPI_Datatype>(static_cast<void*>(NAME)); \
    int sz = 0;                                                                \
    MPI_Aint lb = 0, ext = 0, tlb = 0, text = 0;                               \
    if (t != MPI_DATATYPE_NULL) {                                              \
      MPI_Type_size(t, &sz);                                                   \
      MPI_Type_get_extent(t, &lb, &ext);                                       \
      MPI_Type_get_true_extent(t, &tlb, &text);                                \
    }                                                                          \
    int64_t* e = info + 5 * k;                                                 \
    e[0] = sz, e[1] = lb, e[2] = ext, e[3] = tlb, e[4] = text;                 \
  }                                                                            \
  ++k;
#include "predefined.inc"
#undef X
  char* name = reinterpret_cast<char*>(info + 5 * n);
  int len;
  MPI_Get_processor_name(name, &len);
  name[len] = 0;
  int ver, sub;
  MPI_Get_version(&ver, &sub);
  m.a[12] = ver * 100 + sub;
  m.rc = MPI_SUCCESS;
}

}  // namespace internal

using namespace internal;

void drain_posted() {
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
      rc = MPI_Send(h + 1, static_cast<int>(h->count), wtype(h->type), static_cast<int>(h->dest),
                    static_cast<int>(h->tag), wcomm(h->comm));
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

bool app_finalized() {
  return g_app_fin;
}
bool app_initialized() {
  return g_app_init;
}

void init_tables() {
#define X(KIND, NAME, SYM)                                                  \
  g_predef.push_back(static_cast<void*>(NAME));                             \
  if (std::string_view(#KIND) == "Datatype") g_known_types.insert(u(NAME)); \
  if (std::string_view(#KIND) == "Op") g_known_ops.insert(u(NAME));
#include "predefined.inc"
#undef X
  remember_comm(MPI_COMM_WORLD);
  remember_comm(MPI_COMM_SELF);
}

void dispatch(Msg& m);

// A buffer descriptor must lie inside the channel (inline) and be sane.
bool valid(const Buf& b) {
  switch (b.mode) {
    case chan::kNone:
    case chan::kInPlace:
      return true;
    case chan::kInline:
      return b.off <= chan::kDataSize && b.bytes <= chan::kDataSize - b.off;
    case chan::kCma:
      return b.bytes < (1ull << 40);
    default:
      return false;
  }
}

void execute() {
  Msg& m = g_sh->msg;
  m.kind = chan::kReply;
  m.rc = MPI_SUCCESS;
  try {
    for (const Buf& b : m.b)
      if (!valid(b)) throw BadCall{"buffer outside the channel"};
    dispatch(m);
  } catch (const BadCall& e) {
    fprintf(stderr, "crmpi: rank %d: agent rejected call %u: %s\n", g_rank, m.op, e.what);
    m.kind = chan::kReply;
    m.rc = MPI_ERR_ARG;
  }
}

void dispatch(Msg& m) {
  switch (m.op) {
    case chan::kOpHello:
      op_hello(m);
      break;
    case chan::kOpFinalize:
      reap_detached();
      g_app_fin = true;
      m.rc = MPI_Finalize();
      break;
    case chan::kOpAbort:
      fprintf(stderr, "crmpi: rank %d: application called MPI_Abort with error code %d\n", g_rank,
              static_cast<int>(m.a[1]));
      MPI_Abort(wcomm(m.a[0]), static_cast<int>(m.a[1]));
      break;
      MPI_Abort(wcomm(m.a[0]), static_cast<int>(m.a[1]));
      break;
    case chan::kOpErrorString: {
      int len = 0;
      m.rc = MPI_Error_string(static_cast<int>(m.a[0]), g_sh->data, &len);
      g_sh->data[len] = 0;
      break;
    }
    case chan::kOpErrorClass: {
      int cls = 0;
      m.rc = MPI_Error_class(static_cast<int>(m.a[0]), &cls);
      m.a[1] = cls;
      break;
    }
    case chan::kOpSend:
      op_send(m);
      break;
    case chan::kOpRecv:
      op_recv(m);
      break;
    case chan::kOpIsend:
      op_isend(m);
      break;
    case chan::kOpIrecv:
      op_irecv(m);
      break;
    case chan::kOpProbe:
      op_probe(m, true);
      break;
    case chan::kOpIprobe:
      op_probe(m, false);
      break;
    case chan::kOpSendrecv:
      op_sendrecv(m);
      break;
    case chan::kOpMprobe:
      op_mprobe(m);
      break;
    case chan::kOpMrecv:
      op_mrecv(m);
      break;
    case chan::kOpImrecv:
      op_imrecv(m);
      break;
    case chan::kOpComplete:
      op_complete(m);
      break;
    case chan::kOpCancel:
      op_cancel(m);
      break;
    case chan::kOpRequestFree:
      op_request_free(m);
      break;
    case chan::kOpBsendFlush:
      op_bsend_flush(m);
      break;
    case chan::kOpColl:
      op_coll(m);
      break;
    case chan::kOpCommDup:
    case chan::kOpCommSplit:
    case chan::kOpCommSplitType:
    case chan::kOpCommCreate:
    case chan::kOpCommCreateGroup:
    case chan::kOpCommFree:
      op_comm(m);
      break;
    case chan::kOpOpCreate: {
      MPI_Op op;
      m.rc = MPI_Op_create(trampoline, static_cast<int>(m.a[0]), &op);
      g_known_ops.insert(u(op));
      m.a[0] = u(op);
      break;
    }
    case chan::kOpOpFree: {
      MPI_Op op = wop(m.a[0]);
      g_known_ops.erase(m.a[0]);
      m.rc = MPI_Op_free(&op);
      break;
    }
    default:
      fprintf(stderr, "crmpi: rank %d: agent got unknown op %u\n", g_rank, m.op);
      m.rc = MPI_ERR_INTERN;
  }
}

}  // namespace crmpi::agent
