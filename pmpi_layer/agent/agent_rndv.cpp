// cr_agent: the point-to-point wire format, the single-copy rendezvous, and
// the stash that lets probes see rendezvous sizes.
//
// Algorithm (wire format): every point-to-point payload of n bytes travels as
// MPI_BYTEs, n of them when n < 64, else n + 1 (one trailing zero byte). A
// message of exactly 64 bytes is therefore never a payload: it is a
// rendezvous header (chan::RndvHeader). A receive into an app buffer of R
// bytes posts R + 1 (at least 65: a header always arrives whole and gets its
// ack), so the decoded size shows truncation exactly where MPI would
// (decoded size > R). Sizes over 2 GiB travel as one element of a byte type.
//
// Algorithm (rendezvous): for a large contiguous send (the app decides, see
// CRMPI_RNDV_MIN) to a rank on this node, the agent sends only a header with
// the sender app's pid, the payload address and size, and a fresh ack tag,
// then waits for a one-byte ack on g_ack_comm (a private dup of
// MPI_COMM_WORLD) from the receiver's world rank with that tag. The receiving
// agent, when a receive completes with a header, asks its app (callback
// kCbPull) to copy the payload straight from the sender app into the receive
// buffer with process_vm_readv: one copy, like Open MPI's own CMA path,
// instead of three (app -> agent -> agent -> app). Then it acks (0). The
// sender's buffer is untouched until the ack, as MPI requires of a send in
// progress. Whether ranks may read each other's memory is tested once, at
// start (rndv_init); a rank that cannot is not used for rendezvous. A pull
// that still fails is an error on both sides (nack, 1), never a hang.
//
// Algorithm (progress): a header must be served even while the app waits for
// something else: rank 0 waiting for its large Isend to complete before a
// barrier, while rank 1 enters that barrier with the matching receive
// pending, would otherwise wait forever (natively, rank 1's progress engine
// does the copy inside the barrier). So the agent registers a callback with
// Open MPI's progress engine (opal_progress_register): while the agent sits
// in a blocking MPI call made for the app (Armed), the callback tests the
// pending receives that can get a header (g_rndv_recvs) and serves those
// that completed: pull, ack. Requests the current call itself works on are
// never touched by the callback: op_complete, which waits on our own
// requests, polls with MPI_Test* and serves in between instead. Without that
// hook (another MPI library) there is no rendezvous.
//
// Algorithm (stash): a probe must report the payload size, which only the
// header knows, and probing does not receive. When a probe finds a header,
// the agent receives, in order, every message of that source and
// communicator up to and including that header (MPI_Mprobe with
// MPI_ANY_TAG: the first one with the header's tag is the header) and keeps
// them in a stash. Every later receive, probe and matched probe looks in the
// stash before MPI. Because the stash holds the oldest unreceived messages of
// that source, MPI's non-overtaking order is kept.
#include <dlfcn.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <deque>
#include <unordered_set>

#include "agent_ckpt.h"
#include "agent_internal.h"

namespace crmpi::agent::internal {

using chan::kRndvHeaderBytes;
using chan::RndvHeader;

MPI_Comm g_ack_comm = MPI_COMM_NULL;
bool g_job_local = false;
size_t g_rndv_min = 32768;
std::unordered_set<AReq*> g_rndv_recvs;
static std::vector<char> g_local;  // by world rank: 1 if on this node
static uint32_t g_next_ack_tag = 1;
static int g_ack_tag_ub = 32767;

bool g_app_waits = false;
static int g_armed = 0;
static bool g_hook = false;

Armed::Armed() {
  ++g_armed;
}
Armed::~Armed() {
  --g_armed;
}

static int progress_hook() {
  // The coordinator must hear from a rank even while it sits in a blocking
  // collective (agent_ckpt.cpp, "Algorithm"): socket work only, no MPI.
  ckpt::progress_poll();
  if (g_hook && g_armed && g_app_waits && !g_rndv_recvs.empty()) serve_pending();
  return 0;
}

void rndv_init() {
  MPI_Comm_dup(MPI_COMM_WORLD, &g_ack_comm);
  MPI_Comm_set_errhandler(g_ack_comm, MPI_ERRORS_RETURN);
  int size, *ub, flag = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &ub, &flag);
  if (flag) g_ack_tag_ub = *ub;
  if (const char* v = getenv("CRMPI_RNDV_MIN")) g_rndv_min = strtoull(v, nullptr, 0);
  // All ranks must agree (the direct collectives take one path or the other).
  unsigned long long mn = g_rndv_min;
  MPI_Allreduce(MPI_IN_PLACE, &mn, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  g_rndv_min = mn;
  // Which world ranks can I read? (Apps, like us, allow it with
  // PR_SET_PTRACER; a refusal, e.g. by a security module, leaves a pair
  // out.) Only this node's ranks are tried.
  std::vector<char> readable(size, 0);
  bool enabled = !getenv("CRMPI_NO_RNDV");  // every payload through MPI (tests, comparisons)
  using Register = int (*)(int (*)());
  auto reg = reinterpret_cast<Register>(dlsym(RTLD_DEFAULT, "opal_progress_register"));
  if (reg && reg(progress_hook) == 0) g_hook = enabled;
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Group ng, wg;
  MPI_Comm_group(node, &ng);
  MPI_Comm_group(MPI_COMM_WORLD, &wg);
  int n;
  MPI_Group_size(ng, &n);
  std::vector<int> in(n), out(n);
  for (int i = 0; i < n; ++i) in[i] = i;
  MPI_Group_translate_ranks(ng, n, in.data(), wg, out.data());
  static volatile uint64_t cookie = chan::kRndvMagic;
  uint64_t mine[2] = {static_cast<uint64_t>(getpid()), reinterpret_cast<uint64_t>(&cookie)};
  std::vector<uint64_t> all(2 * n);
  MPI_Allgather(mine, 2, MPI_UINT64_T, all.data(), 2, MPI_UINT64_T, node);
  for (int i = 0; g_hook && i < n; ++i) {
    uint64_t got = 0;
    if (vm_copy(static_cast<int>(all[2 * i]), false, all[2 * i + 1], &got, sizeof got) &&
        got == chan::kRndvMagic && out[i] >= 0 && out[i] < size)
      readable[out[i]] = 1;
  }
  MPI_Barrier(node);  // nobody leaves (and changes its memory) before all have read
  MPI_Group_free(&ng);
  MPI_Group_free(&wg);
  MPI_Comm_free(&node);
  // A rendezvous with a peer needs both directions (each may be receiver);
  // the direct collectives need every pair, decided by all ranks together.
  std::vector<char> matrix(static_cast<size_t>(size) * size);
  MPI_Allgather(readable.data(), size, MPI_CHAR, matrix.data(), size, MPI_CHAR, MPI_COMM_WORLD);
  int me;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  g_local.assign(size, 0);
  bool every = true;
  for (int w = 0; w < size; ++w) {
    g_local[w] =
        matrix[static_cast<size_t>(me) * size + w] && matrix[static_cast<size_t>(w) * size + me];
    for (int v = 0; v < size; ++v) every = every && matrix[static_cast<size_t>(w) * size + v];
  }
  g_job_local = every;
}

bool rndv_local(uint64_t world) {
  return world < g_local.size() && g_local[world];
}

// ---------------------------------------------------------------- sends

WireCount::WireCount(size_t bytes) {
  if (bytes <= INT_MAX) {
    count = static_cast<int>(bytes);
    return;
  }
  // One element: k chunks of 1 GiB, then the rest.
  const int chunk = 1 << 30;
  MPI_Datatype big;
  MPI_Type_contiguous(chunk, MPI_BYTE, &big);
  int lens[2] = {static_cast<int>(bytes / chunk), static_cast<int>(bytes % chunk)};
  MPI_Aint disps[2] = {0, static_cast<MPI_Aint>(bytes / chunk) * chunk};
  MPI_Datatype types[2] = {big, MPI_BYTE};
  MPI_Type_create_struct(2, lens, disps, types, &type);
  MPI_Type_commit(&type);
  MPI_Type_free(&big);
  count = 1;
  made_ = true;
}

WireCount::~WireCount() {
  if (made_) MPI_Type_free(&type);
}

MPI_Datatype WireCount::release() {
  if (!made_) return MPI_DATATYPE_NULL;
  made_ = false;
  return type;
}

// Append the trailer (buf has room for n + 1 bytes); the wire size.
static size_t with_trailer(char* buf, size_t n) {
  size_t w = chan::wire_bytes(n);
  if (w != n) buf[n] = 0;
  return w;
}

// A blocking send: small standard ones with MPI_Send (eager: they never
// wait for the receiver); the others posted and waited for with wait_req,
// which keeps serving the job checkpoint (their receiver may be paused: its
// drain completes them).
// Only a send that MPI took counts for the drain (one to an invalid rank
// fails here and never arrives anywhere).
int wire_send(char* buf, size_t n, int dest, int tag, MPI_Comm c, uint64_t mode) {
  WireCount w(with_trailer(buf, n));
  Armed a;  // a large send may wait for a peer that waits for our pull
  if (mode == chan::kStandard && n <= chan::kAsyncMaxPayload) {
    int rc = MPI_Send(buf, w.count, w.type, dest, tag, c);
    if (rc == MPI_SUCCESS && dest != MPI_PROC_NULL) ++ckpt::g_sent;
    return rc;
  }
  MPI_Request r;
  int rc = mode == chan::kSync    ? MPI_Issend(buf, w.count, w.type, dest, tag, c, &r)
           : mode == chan::kReady ? MPI_Irsend(buf, w.count, w.type, dest, tag, c, &r)
                                  : MPI_Isend(buf, w.count, w.type, dest, tag, c, &r);
  if (rc != MPI_SUCCESS) return rc;
  if (dest != MPI_PROC_NULL) ++ckpt::g_sent;  // before the wait, which may run the drain
  return wait_req(&r, MPI_STATUS_IGNORE);
}

int wire_isend(char* buf, size_t n, int dest, int tag, MPI_Comm c, uint64_t mode, MPI_Request* r,
               MPI_Datatype* bt) {
  WireCount w(with_trailer(buf, n));
  int rc = mode == chan::kSync    ? MPI_Issend(buf, w.count, w.type, dest, tag, c, r)
           : mode == chan::kReady ? MPI_Irsend(buf, w.count, w.type, dest, tag, c, r)
                                  : MPI_Isend(buf, w.count, w.type, dest, tag, c, r);
  if (rc == MPI_SUCCESS && dest != MPI_PROC_NULL) ++ckpt::g_sent;
  *bt = w.release();  // lives as long as the request
  return rc;
}

int rndv_send_start(AReq* q, const Buf& src, int dest, int tag, MPI_Comm c, uint64_t world) {
  q->rndv = true;
  q->hdr = RndvHeader{chan::kRndvMagic, src.addr, src.bytes, g_app, g_rank, g_next_ack_tag, 0, {}};
  g_next_ack_tag = g_next_ack_tag >= static_cast<uint32_t>(g_ack_tag_ub) ? 1 : g_next_ack_tag + 1;
  // The ack receive is posted before the header leaves, so it cannot be missed.
  int rc = MPI_Irecv(&q->ack, 1, MPI_BYTE, static_cast<int>(world),
                     static_cast<int>(q->hdr.ack_tag), g_ack_comm, &q->r);
  if (rc != MPI_SUCCESS) return rc;
  // 64 bytes: below every eager limit, so this returns at once.
  rc = MPI_Send(&q->hdr, kRndvHeaderBytes, MPI_BYTE, dest, tag, c);
  if (rc == MPI_SUCCESS) ++ckpt::g_sent;
  if (rc != MPI_SUCCESS) {
    MPI_Cancel(&q->r);
    MPI_Wait(&q->r, MPI_STATUS_IGNORE);
  }
  return rc;
}

int rndv_send_finish(AReq* q, const MPI_Status& ack) {
  if (!q->ack) return MPI_SUCCESS;
  fprintf(stderr,
          "crmpi: rank %d: world rank %d could not copy a %lu-byte message from this rank\n",
          g_rank, ack.MPI_SOURCE, static_cast<unsigned long>(q->hdr.bytes));
  return MPI_ERR_OTHER;
}

// ---------------------------------------------------------------- receives

bool app_copy(const Buf& dst, int pid, uint64_t addr, size_t n) {
  Msg saved = g_sh->msg;
  Msg& m = g_sh->msg;
  m.callback = chan::kCbPull;
  m.a.pull.pid = static_cast<uint64_t>(pid);
  m.a.pull.addr = addr;
  m.a.pull.bytes = n;
  m.a.pull.copied = 0;
  m.dst = dst;
  m.dst.bytes = n;
  call_app();
  bool ok = m.a.pull.copied == 1;
  g_sh->msg = saved;
  return ok;
}

static int rndv_receive(const Buf& dst, const RndvHeader& h, size_t n) {
  char ack = n == 0 || app_copy(dst, h.pid, h.addr, n) ? 0 : 1;
  if (ack)
    fprintf(stderr, "crmpi: rank %d: cannot copy a %lu-byte message from world rank %d (pid %d)\n",
            g_rank, static_cast<unsigned long>(h.bytes), h.world, h.pid);
  int rc = MPI_Send(&ack, 1, MPI_BYTE, h.world, static_cast<int>(h.ack_tag), g_ack_comm);
  return ack ? MPI_ERR_OTHER : rc;
}

size_t recv_capacity(const Buf& dst) {
  size_t r = dst.mode == chan::kNone ? 0 : dst.bytes;
  return std::max(r + 1, kRndvHeaderBytes + 1);
}

int land(const Buf& dst, const char* buf, MPI_Status& st, int rc, bool* pulled) {
  *pulled = false;
  if (st._cancelled || st.MPI_SOURCE == MPI_PROC_NULL) return rc;
  size_t r = dst.mode == chan::kNone ? 0 : dst.bytes;
  if (rc == MPI_ERR_TRUNCATE || (rc == MPI_ERR_IN_STATUS && st.MPI_ERROR == MPI_ERR_TRUNCATE)) {
    st._ucount = r;  // longer than R + 1 bytes on the wire
    st.MPI_ERROR = MPI_ERR_TRUNCATE;
    return MPI_ERR_TRUNCATE;
  }
  if (rc != MPI_SUCCESS) return rc;
  size_t w = st._ucount;
  if (w == kRndvHeaderBytes) {
    RndvHeader h;
    memcpy(&h, buf, sizeof h);
    if (h.magic != chan::kRndvMagic) {
      fprintf(stderr, "crmpi: rank %d: corrupt rendezvous header from rank %d\n", g_rank,
              st.MPI_SOURCE);
      st._ucount = 0;
      return st.MPI_ERROR = MPI_ERR_INTERN;
    }
    size_t n = std::min<size_t>(h.bytes, r);
    int k = rndv_receive(dst, h, n);
    *pulled = true;
    st._ucount = n;
    if (k != MPI_SUCCESS) return st.MPI_ERROR = k;
    return h.bytes > r ? (st.MPI_ERROR = MPI_ERR_TRUNCATE) : MPI_SUCCESS;
  }
  size_t n = w < kRndvHeaderBytes ? w : w - 1;
  if (n > r) {
    st._ucount = r;
    return st.MPI_ERROR = MPI_ERR_TRUNCATE;
  }
  st._ucount = n;
  return MPI_SUCCESS;
}

void recv_completed(AReq* q, MPI_Status& st, int rc) {
  g_rndv_recvs.erase(q);
  if ((rc == MPI_SUCCESS || rc == MPI_ERR_TRUNCATE ||
       (rc == MPI_ERR_IN_STATUS && st.MPI_ERROR == MPI_ERR_TRUNCATE)) &&
      !st._cancelled && st.MPI_SOURCE != MPI_PROC_NULL)
    ++ckpt::g_received;
  bool pulled = false;
  q->rc = land(q->dst, q->rbuf, st, rc, &pulled);
  q->pulled = pulled;
  q->st = st;
  q->done = true;
  q->r = MPI_REQUEST_NULL;
}

void serve_pending() {
  static bool serving = false;  // the pulls and acks below run MPI progress too
  if (g_rndv_recvs.empty() || serving) return;
  serving = true;
  // One MPI_Testsome over all of them: one (nested) progress pass, not one
  // per request.
  std::vector<AReq*> pending(g_rndv_recvs.begin(), g_rndv_recvs.end());
  std::vector<MPI_Request> rs(pending.size());
  for (size_t i = 0; i < pending.size(); ++i) rs[i] = pending[i]->r;
  std::vector<int> idx(rs.size());
  std::vector<MPI_Status> st(rs.size());
  int out = 0;
  int rc = MPI_Testsome(static_cast<int>(rs.size()), rs.data(), &out, idx.data(), st.data());
  for (int k = 0; out != MPI_UNDEFINED && k < out; ++k) {
    AReq* q = pending[idx[k]];
    q->r = rs[idx[k]];
    recv_completed(q, st[k], rc == MPI_ERR_IN_STATUS ? st[k].MPI_ERROR : rc);
  }
  serving = false;
}

int wait_req(MPI_Request* r, MPI_Status* st) {
  Armed a;
  if (!ckpt::enabled()) return MPI_Wait(r, st);
  return ckpt::wait_through(r, st);
}

// ---------------------------------------------------------------- stash

std::deque<Stashed*> g_stash;
std::unordered_set<Stashed*> g_stash_msgs;  // stashed messages handed out by a matched probe

static bool matches(const Stashed* e, MPI_Comm c, int src, int tag) {
  return e->comm == c && (src == MPI_ANY_SOURCE || src == e->st.MPI_SOURCE) &&
         (tag == MPI_ANY_TAG || tag == e->st.MPI_TAG);
}

Stashed* stash_find(MPI_Comm c, int src, int tag, bool take) {
  for (auto it = g_stash.begin(); it != g_stash.end(); ++it) {
    if (!matches(*it, c, src, tag)) continue;
    Stashed* e = *it;
    if (take) g_stash.erase(it);
    return e;
  }
  return nullptr;
}

// Receive a matched message whole into a stash entry.
Stashed* stash_receive(MPI_Comm c, MPI_Message* msg, const MPI_Status& probed) {
  auto* e = new Stashed;
  e->comm = c;
  size_t n = probed._ucount;  // bytes
  e->bytes.resize(n > 0 ? n : 1);
  WireCount w(n);
  MPI_Mrecv(e->bytes.data(), w.count, w.type, msg, &e->st);
  ++ckpt::g_received;
  return e;
}

Stashed* stash_through(MPI_Comm c, int src, int tag) {
  for (;;) {
    MPI_Message msg;
    MPI_Status st;
    MPI_Mprobe(src, MPI_ANY_TAG, c, &msg, &st);  // the probed message is there: no wait
    Stashed* e = stash_receive(c, &msg, st);
    g_stash.push_back(e);
    if (st.MPI_TAG == tag) return e;
  }
}

size_t stashed_size(const Stashed* e) {
  size_t w = e->st._ucount;
  if (w == kRndvHeaderBytes) return reinterpret_cast<const RndvHeader*>(e->bytes.data())->bytes;
  return w < kRndvHeaderBytes ? w : w - 1;
}

int stash_deliver(Stashed* e, const Buf& dst, char* p, MPI_Status& st, bool* pulled) {
  st = e->st;
  size_t cap = recv_capacity(dst);
  int rc = MPI_SUCCESS;
  size_t w = e->st._ucount;
  if (w > cap) {
    rc = MPI_ERR_TRUNCATE;
    w = cap;
  }
  if (p && e->st._ucount != kRndvHeaderBytes) memcpy(p, e->bytes.data(), w);
  rc = land(dst, e->bytes.data(), st, rc, pulled);
  delete e;
  return rc;
}

}  // namespace crmpi::agent::internal
