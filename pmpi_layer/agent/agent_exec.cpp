// cr_agent: execution of channel calls on the real Open MPI.
//
// Algorithm (buffers): a call names its source and destination buffers with
// chan::Buf. INLINE buffers are used in place in the channel's data area;
// CMA buffers are copied from/to the app with process_vm_readv/writev through
// agent scratch memory. Nonblocking operations own private copies (AReq) until
// completion, when received bytes are delivered: inline into the reply when
// small, else by CMA. Calls using a user op never use the data area in place,
// because the op's callbacks reuse it.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "agent.h"
#include "agent_ckpt.h"
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
  if (vm_copy(g_app, write, addr, local, n)) return;
  fprintf(stderr, "crmpi: rank %d: process_vm_%s of %zu bytes at %#lx failed: %m\n", g_rank,
          write ? "writev" : "readv", n, static_cast<unsigned long>(addr));
  throw BadCall{"cannot access the app's memory"};
}

// Pointer to a source buffer's bytes. `priv` forces a private copy.
char* src_ptr(const Buf& b, Scratch& s, bool priv) {
  switch (b.mode) {
    case chan::kInline:
      if (!priv) return g_sh->data + b.off;
      return static_cast<char*>(memcpy(s.get(b.bytes), g_sh->data + b.off, b.bytes));
    case chan::kCma: {
      char* p = s.get(b.bytes + 1);  // + the point-to-point wire trailer
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
  char* p = s.get(b.bytes + 1);  // + the point-to-point wire trailer
  if (b.prefill) load(b, p);
  return p;
}

void load(const Buf& b, char* p) {
  if (b.mode == chan::kInline)
    memcpy(p, g_sh->data + b.off, b.bytes);
  else
    cma(false, b.addr, p, b.bytes);
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
  // n == 0 is legal: a derived type of no data (zero blocklengths, count 0).
  if (n > INT32_MAX) throw BadCall{"bad packed element size"};
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
bool matched_messages_pending() {
  return !g_known_msgs.empty();
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
  m.a.recv.status.source = static_cast<uint64_t>(st.MPI_SOURCE);
  m.a.recv.status.tag = static_cast<uint64_t>(st.MPI_TAG);
  m.a.recv.status.error = static_cast<uint64_t>(st.MPI_ERROR);
  m.a.recv.status.ucount = st._ucount;
  m.a.recv.status.cancelled = static_cast<uint64_t>(st._cancelled);
}

// ---------------------------------------------------------------- user ops

void call_app() {
  g_sh->msg.kind = chan::kCallback;
  uint32_t seen = g_sh->req_seq.load();
  uint32_t call = g_sh->call_seq.load();
  chan::ring(g_sh->rep_seq, g_sh->app_sleeping);
  static chan::Spin spin{50000, 2000, 50000, &g_sh->agent_cpu, &g_sh->app_cpu};
  while (g_sh->call_seq.load(std::memory_order_acquire) == call)
    seen = chan::wait_change(g_sh->req_seq, g_sh->agent_sleeping, seen, spin, nullptr);
}

// Algorithm: each collective with a user op reduces over a fresh dup of its
// element type; g_userop maps that type to the app's op and type so the
// trampoline can call back. The callback names the vectors by address in
// this process; the app copies them with process_vm_readv, applies its
// function and writes the result back with process_vm_writev, so that the
// channel's data area (which the current call may be using in place) is
// never touched. Open MPI may run the op of a pending nonblocking collective
// from the progress of any later MPI call, even of a posted send outside
// any call: then the trampoline first waits until the app enters its next
// call (the app must call MPI to complete that collective anyway).
struct UserOpCall {
  uint64_t app_op, app_type, esize;
};
std::map<MPI_Datatype, UserOpCall> g_userop;
uint32_t g_calls_done = 0;

// Wait until the app waits in call(): now, or once it posts its next call.
static void await_app_call() {
  if (g_app_waits) return;
  static chan::Spin spin{50000, 2000, 50000, &g_sh->agent_cpu, &g_sh->app_cpu};
  uint32_t seen = g_sh->req_seq.load();
  while (g_sh->call_seq.load(std::memory_order_acquire) == g_calls_done)
    seen = chan::wait_change(g_sh->req_seq, g_sh->agent_sleeping, seen, spin, nullptr);
}

void trampoline(void* in, void* inout, int* len, MPI_Datatype* dt) {
  auto it = g_userop.find(*dt);
  if (it == g_userop.end()) {
    fprintf(stderr, "crmpi: user op called on an unknown datatype\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  const UserOpCall& c = it->second;
  await_app_call();
  Msg saved = g_sh->msg;
  Msg& m = g_sh->msg;
  m.callback = chan::kCbUserOp;
  m.a.user_op.app_op = c.app_op;
  m.a.user_op.app_type = c.app_type;
  m.a.user_op.count = static_cast<uint64_t>(*len);
  m.a.user_op.agent_pid = static_cast<uint64_t>(getpid());
  m.a.user_op.invec = u(in);
  m.a.user_op.inoutvec = u(inout);
  m.a.user_op.elem_bytes = c.esize;
  call_app();
  bool ok = m.a.user_op.done == 1;
  g_sh->msg = saved;
  if (!ok) {
    fprintf(stderr, "crmpi: rank %d: the app could not apply its reduction op\n", g_rank);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
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

// ---------------------------------------------------------------- misc

void op_hello(Msg& m) {
  g_app_init = true;
  int rank, size, flag;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  m.a.hello_out.rank = rank;
  m.a.hello_out.size = size;
  m.a.hello_out.world = u(MPI_COMM_WORLD);
  m.a.hello_out.self = u(MPI_COMM_SELF);
  int* v;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &v, &flag);
  m.a.hello_out.tag_ub = flag ? *v : 32767;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_WTIME_IS_GLOBAL, &v, &flag);
  m.a.hello_out.wtime_global = flag ? *v : 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_UNIVERSE_SIZE, &v, &flag);
  m.a.hello_out.universe = flag ? *v : size;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_APPNUM, &v, &flag);
  m.a.hello_out.appnum = flag ? *v : 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_HOST, &v, &flag);
  m.a.hello_out.host = flag ? *v : MPI_PROC_NULL;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_IO, &v, &flag);
  m.a.hello_out.io = flag ? *v : MPI_ANY_SOURCE;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_LASTUSEDCODE, &v, &flag);
  m.a.hello_out.lastusedcode = flag ? *v : MPI_ERR_LASTCODE;
  // data: n handles (u64), per datatype 5 x i64 (size, lb, extent, true_lb,
  // true_extent), then the processor name.
  size_t n = g_predef.size();
  m.a.hello_out.npredefined = n;
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
  m.a.hello_out.version = ver * 100 + sub;
  m.rc = MPI_SUCCESS;
  ckpt::app_hello();
}

}  // namespace internal

using namespace internal;

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
  ckpt::comm_added(MPI_COMM_WORLD, 1, 0);  // ids of protocol.h, comm_id()
  ckpt::comm_added(MPI_COMM_SELF, 2, 0);
}

void dispatch(Msg& m);

// A buffer descriptor must lie inside the channel (inline) and be sane.
bool valid(const Buf& b) {
  switch (b.mode) {
    case chan::kNone:
    case chan::kInPlace:
      return true;
    case chan::kInline:
      // One byte more than the payload: room for the wire trailer.
      return b.off < chan::kDataSize && b.bytes < chan::kDataSize - b.off;
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
  g_app_waits = true;  // the app is in call(): callbacks may go to it
  try {
    for (const Buf* b : {&m.src, &m.dst, &m.extra})
      if (!valid(*b)) throw BadCall{"buffer outside the channel"};
    dispatch(m);
    g_app_waits = false;
  } catch (const ckpt::Paused& p) {  // the app makes the call again after the checkpoint
    g_app_waits = false;
    m.kind = chan::kReply;
    m.rc = p.rc;
  } catch (const BadCall& e) {
    g_app_waits = false;
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
      if (ckpt::enabled())
        ckpt::finalize_meet();  // a safe point until every rank came (may throw Paused)
      else
        ckpt::finishing();
      g_app_fin = true;
      m.rc = MPI_Finalize();
      break;
    case chan::kOpAbort:
      fprintf(stderr, "crmpi: rank %d: application called MPI_Abort with error code %d\n", g_rank,
              static_cast<int>(m.a.abort.code));
      MPI_Abort(wcomm(m.a.abort.comm), static_cast<int>(m.a.abort.code));
      break;
    case chan::kOpErrorString: {
      int len = 0;
      m.rc = MPI_Error_string(static_cast<int>(m.a.error.code), g_sh->data, &len);
      g_sh->data[len] = 0;
      break;
    }
    case chan::kOpErrorClass: {
      int cls = 0;
      m.rc = MPI_Error_class(static_cast<int>(m.a.error.code), &cls);
      m.a.error.error_class = cls;
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
    case chan::kOpIntercommMerge:
      op_comm(m);
      break;
    case chan::kOpIntercommCreate:
      op_intercomm_create(m);
      break;
    case chan::kOpCommIdup:
      op_comm_idup(m);
      break;
    case chan::kOpOpCreate: {
      MPI_Op op;
      m.rc = MPI_Op_create(trampoline, static_cast<int>(m.a.op_create.commute), &op);
      g_known_ops.insert(u(op));
      m.a.op.op = u(op);
      break;
    }
    case chan::kOpOpFree: {
      MPI_Op op = wop(m.a.op.op);
      g_known_ops.erase(m.a.op.op);
      m.rc = MPI_Op_free(&op);
      break;
    }
    case chan::kOpCkptQuiesced:
      ckpt::op_quiesced(m);
      break;
    case chan::kOpCkptPeekMessage:
      ckpt::op_peek_message(m);
      break;
    case chan::kOpCkptTakeMessage:
      ckpt::op_take_message(m);
      break;
    case chan::kOpCkptResume:
      ckpt::op_resume(m);
      break;
    case chan::kOpCommRebuild:
      ckpt::op_comm_rebuild(m);
      break;
    case chan::kOpCommLive:
      ckpt::op_comm_live(m);
      break;
    case chan::kOpCkptRequest:
      m.rc = ckpt::request_job_checkpoint(static_cast<uint32_t>(m.a.ckpt.after)) ? MPI_SUCCESS
                                                                            : MPI_ERR_OTHER;
      break;
    default:
      fprintf(stderr, "crmpi: rank %d: agent got unknown op %u\n", g_rank, m.op);
      m.rc = MPI_ERR_INTERN;
  }
}

}  // namespace crmpi::agent
