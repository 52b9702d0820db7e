// agent_drain.cpp -- the agent's side of the drain, of settling requests
// before a capture, of handing drained messages to the app, and of a
// restart's communicator rebuild.
//
// Algorithm (drain): the job is quiescent (no app sends anything new).
// Each DrainStep receives, on every communicator the app knows, every
// message MPI offers (MPI_Improbe + MPI_Mrecv, any source, any tag) into
// the stash, in arrival order, and completes pending receives that matched
// meanwhile.  A rendezvous header is materialised at once: the agent reads
// the payload from the sender app with process_vm_readv and acks it, so
// the sender's send completes and nothing refers to another process's
// memory any more.  The coordinator repeats steps until the job's sums of
// messages sent and received are equal: then nothing is in flight.
//
// Algorithm (settle): every pending receive is cancelled (MPI_Cancel, then
// MPI_Test_cancelled); one that matched meanwhile completes normally
// instead.  Sends and nonblocking collectives complete (their receivers
// drained them; every member entered the collectives: safe point).  Each
// request keeps its outcome (done, status, data) until the app asks for it
// with an ordinary completion call.  The stash then goes to the app, oldest
// first (kOpCkptPeekMessage / kOpCkptTakeMessage): after the capture its
// receives match those messages before anything MPI delivers.
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent_ckpt.h"

namespace crmpi::agent::ckpt {

using namespace internal;

namespace {

// A stashed rendezvous header becomes an ordinary stashed payload.
int materialise(Stashed* e) {
  chan::RndvHeader h;
  memcpy(&h, e->bytes.data(), sizeof h);
  if (h.magic != chan::kRndvMagic) return EPROTO;
  std::vector<char> payload(h.bytes + 1);
  bool ok = h.bytes == 0 || vm_copy(h.pid, false, h.addr, payload.data(), h.bytes);
  char ack = ok ? 0 : 1;
  MPI_Send(&ack, 1, MPI_BYTE, h.world, static_cast<int>(h.ack_tag), g_ack_comm);
  if (!ok) return errno ? errno : EIO;
  payload[h.bytes] = 0;  // the wire trailer
  e->st._ucount = chan::wire_bytes(h.bytes);
  payload.resize(e->st._ucount);
  e->bytes = std::move(payload);
  return 0;
}

Stashed* front() {
  return g_stash.empty() ? nullptr : g_stash.front();
}

}  // namespace

int drain_step() {
  serve_pending();
  reap_detached();
  for (MPI_Comm c : app_comms()) {
    for (;;) {
      int flag = 0;
      MPI_Message msg;
      MPI_Status st;
      if (MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, c, &flag, &msg, &st) != MPI_SUCCESS || !flag)
        break;
      Stashed* e = stash_receive(c, &msg, st);
      if (e->st._ucount == chan::kRndvHeaderBytes) {
        if (int rc = materialise(e)) {
          delete e;
          return rc;
        }
      }
      g_stash.push_back(e);
    }
  }
  serve_pending();
  return 0;
}

int settle() {
  serve_pending();
  reap_detached();
  std::vector<AReq*> live(g_live.begin(), g_live.end());
  for (AReq* q : live)
    if (int rc = settle_request(q)) return rc;
  reap_detached();
  // Headers already in the stash (a probe stashed them): pull them now.
  for (Stashed* e : g_stash)
    if (e->st._ucount == chan::kRndvHeaderBytes)
      if (int rc = materialise(e)) return rc;
  if (!g_stash_msgs.empty()) return ENOTSUP;  // matched by MPI_Mprobe, never received
  return 0;
}

size_t stashed_messages() {
  return g_stash.size();
}

void op_peek_message(chan::Msg& m) {
  Stashed* e = front();
  if (!e) throw BadCall{"no drained message"};
  m.a.ckpt_msg.comm = u(e->comm);
  m.a.ckpt_msg.source = static_cast<uint64_t>(e->st.MPI_SOURCE);
  m.a.ckpt_msg.tag = static_cast<uint64_t>(e->st.MPI_TAG);
  m.a.ckpt_msg.bytes = stashed_size(e);
}

void op_take_message(chan::Msg& m) {
  Stashed* e = front();
  if (!e) throw BadCall{"no drained message"};
  size_t n = stashed_size(e);
  if (m.dst.bytes < n) throw BadCall{"drained message larger than its destination"};
  if (n) dst_done(m.dst, e->bytes.data(), n);
  g_stash.pop_front();
  delete e;
}

// Algorithm (live set): a member may have freed a communicator (and gone on,
// e.g. into MPI_Finalize, a safe point) while another still holds it at the
// capture; rebuilding it would wait for the member that freed it.  Every
// rank lists the ids it holds (MPI_Allgatherv over the new world); an id
// listed as many times as it has members is held by all of them.
void op_comm_live(chan::Msg& m) {
  if (!rebuilding()) throw BadCall{"a communicator live set outside a restart"};
  int n = static_cast<int>(m.a.comm_live.n), wsize = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &wsize);
  if (n < 0 || static_cast<size_t>(n) * 16 > sizeof g_sh->data) throw BadCall{"bad id count"};
  auto* pairs = reinterpret_cast<uint64_t*>(g_sh->data);
  std::vector<uint64_t> mine(n);
  for (int i = 0; i < n; ++i) mine[i] = pairs[2 * i];
  std::vector<int> counts(wsize), displs(wsize);
  m.rc = MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  if (m.rc != MPI_SUCCESS) return;
  int total = 0;
  for (int r = 0; r < wsize; ++r) displs[r] = total, total += counts[r];
  std::vector<uint64_t> all(total);
  m.rc = MPI_Allgatherv(mine.data(), n, MPI_UINT64_T, all.data(), counts.data(), displs.data(),
                        MPI_UINT64_T, MPI_COMM_WORLD);
  if (m.rc != MPI_SUCCESS) return;
  std::sort(all.begin(), all.end());
  for (int i = 0; i < n; ++i) {
    auto range = std::equal_range(all.begin(), all.end(), mine[i]);
    pairs[i] = static_cast<uint64_t>(range.second - range.first) == pairs[2 * i + 1] ? 1 : 0;
  }
}

// Algorithm (rebuild): a restarted app makes each of its communicators
// again from its members' world ranks, with MPI_Comm_create_group on
// MPI_COMM_WORLD (collective over the members only), in increasing id order
// on every rank: two communicators sharing members are made in the same
// order everywhere, so no rank waits for one that is making another.  The
// id is the group's tag (low bits), so that concurrent creations of
// disjoint groups do not mix.  World and self are the new agent's own.
void op_comm_rebuild(chan::Msg& m) {
  const chan::CommRebuildArgs a = m.a.comm_rebuild;
  if (!rebuilding()) throw BadCall{"a communicator rebuild outside a restart"};
  int wsize = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &wsize);
  uint64_t total = a.size + a.remote_size;
  if (a.size == 0 || total > static_cast<uint64_t>(wsize)) throw BadCall{"bad member count"};
  const int* members = reinterpret_cast<const int*>(g_sh->data);
  std::vector<char> seen(wsize, 0);
  bool me = false;
  for (uint64_t i = 0; i < total; ++i) {
    int w = members[i];
    if (w < 0 || w >= wsize || seen[w]) throw BadCall{"bad or repeated member"};
    seen[w] = 1;
    me |= w == g_rank && i < a.size;
  }
  if (!me) throw BadCall{"a rebuilt communicator without this rank"};
  MPI_Comm nc = MPI_COMM_NULL;
  if (a.id == 1 || a.id == 2) {
    nc = a.id == 1 ? MPI_COMM_WORLD : MPI_COMM_SELF;
    m.rc = MPI_SUCCESS;
  } else if (a.remote_size) {  // an intercommunicator (agent_intercomm.cpp)
    std::vector<int> local(members, members + a.size), remote(members + a.size, members + total);
    m.rc = rebuild_intercomm(a.id, local, remote, &nc);
  } else {
    MPI_Group g = world_subgroup(static_cast<int>(a.size), reinterpret_cast<int*>(g_sh->data));
    int ub = 32767, *v, flag = 0;
    MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &v, &flag);
    if (flag) ub = *v;
    m.rc = MPI_Comm_create_group(MPI_COMM_WORLD, g, static_cast<int>(a.id % (ub + 1ull)), &nc);
    MPI_Group_free(&g);
  }
  if (m.rc != MPI_SUCCESS) return;
  reply_comm(m, nc);
  comm_added(nc, a.id, a.seq);
  m.a.comm_out.id = a.id;
}

}  // namespace crmpi::agent::ckpt
