// cr_agent: collectives and communicator creation on the real Open MPI.
#include <cstring>
#include <vector>

#include <algorithm>

#include "agent_ckpt.h"
#include "agent_internal.h"

namespace crmpi::agent::internal {

// ---------------------------------------------------------------- collectives

// Arguments: chan::CollArgs; src send, dst recv, extra int32 arrays
// scounts, sdispls, rcounts, rdispls (each comm_size entries).
int run_coll(const Msg& m, char* s, char* r, MPI_Datatype st, MPI_Datatype rt, MPI_Request* req,
             std::vector<int>* keep) {
  MPI_Comm c = wcomm(m.a.coll.comm);
  int sc = static_cast<int>(m.a.coll.scount), rc = static_cast<int>(m.a.coll.rcount), root = static_cast<int>(m.a.coll.root);
  MPI_Op op = wop(m.a.coll.op);
  int n = static_cast<int>(m.a.coll.comm_size);
  int* arr =
      m.extra.mode == chan::kInline ? reinterpret_cast<int*>(g_sh->data + m.extra.off) : nullptr;
  int words = m.a.coll.kind == chan::kAlltoallw ? 8 * n : 4 * n;  // + 2n u64 types
  if (req && arr) {  // nonblocking: the arrays must live as long as the request
    keep->assign(arr, arr + words);
    arr = keep->data();
  }
  int *scs = arr, *sds = arr ? arr + n : nullptr, *rcs = arr ? arr + 2 * n : nullptr,
      *rds = arr ? arr + 3 * n : nullptr;
  bool nb = req != nullptr;
  switch (m.a.coll.kind) {
    case chan::kBarrier:
      return nb ? MPI_Ibarrier(c, req) : MPI_Barrier(c);
    case chan::kBcast:
      return nb ? MPI_Ibcast(r, rc, rt, root, c, req) : MPI_Bcast(r, rc, rt, root, c);
    case chan::kReduce:
      return nb ? MPI_Ireduce(s, r, rc, rt, op, root, c, req)
                : MPI_Reduce(s, r, rc, rt, op, root, c);
    case chan::kAllreduce:
      return nb ? MPI_Iallreduce(s, r, rc, rt, op, c, req) : MPI_Allreduce(s, r, rc, rt, op, c);
    case chan::kScan:
      return nb ? MPI_Iscan(s, r, rc, rt, op, c, req) : MPI_Scan(s, r, rc, rt, op, c);
    case chan::kExscan:
      return nb ? MPI_Iexscan(s, r, rc, rt, op, c, req) : MPI_Exscan(s, r, rc, rt, op, c);
    case chan::kReduceScatterBlock:
      return nb ? MPI_Ireduce_scatter_block(s, r, rc, rt, op, c, req)
                : MPI_Reduce_scatter_block(s, r, rc, rt, op, c);
    case chan::kReduceScatter:
      return nb ? MPI_Ireduce_scatter(s, r, rcs, rt, op, c, req)
                : MPI_Reduce_scatter(s, r, rcs, rt, op, c);
    case chan::kGather:
      return nb ? MPI_Igather(s, sc, st, r, rc, rt, root, c, req)
                : MPI_Gather(s, sc, st, r, rc, rt, root, c);
    case chan::kGatherv:
      return nb ? MPI_Igatherv(s, sc, st, r, rcs, rds, rt, root, c, req)
                : MPI_Gatherv(s, sc, st, r, rcs, rds, rt, root, c);
    case chan::kScatter:
      return nb ? MPI_Iscatter(s, sc, st, r, rc, rt, root, c, req)
                : MPI_Scatter(s, sc, st, r, rc, rt, root, c);
    case chan::kScatterv:
      return nb ? MPI_Iscatterv(s, scs, sds, st, r, rc, rt, root, c, req)
                : MPI_Scatterv(s, scs, sds, st, r, rc, rt, root, c);
    case chan::kAllgather:
      return nb ? MPI_Iallgather(s, sc, st, r, rc, rt, c, req)
                : MPI_Allgather(s, sc, st, r, rc, rt, c);
    case chan::kAllgatherv:
      return nb ? MPI_Iallgatherv(s, sc, st, r, rcs, rds, rt, c, req)
                : MPI_Allgatherv(s, sc, st, r, rcs, rds, rt, c);
    case chan::kAlltoall:
      return nb ? MPI_Ialltoall(s, sc, st, r, rc, rt, c, req)
                : MPI_Alltoall(s, sc, st, r, rc, rt, c);
    case chan::kAlltoallv:
      return nb ? MPI_Ialltoallv(s, scs, sds, st, r, rcs, rds, rt, c, req)
                : MPI_Alltoallv(s, scs, sds, st, r, rcs, rds, rt, c);
    case chan::kReduceLocal:
      return MPI_Reduce_local(s, r, rc, rt, op);
    case chan::kAlltoallw: {
      // Types are wire values; resolve them into arrays that live as long
      // as the operation (the tail of `keep` for a nonblocking one).
      auto* wt = reinterpret_cast<const uint64_t*>(arr + 4 * n);
      static std::vector<MPI_Datatype> blocking_types;
      std::vector<MPI_Datatype> local(2 * n);
      for (int i = 0; i < 2 * n; ++i) local[i] = wtype(wt[i]);
      MPI_Datatype* ts;
      if (nb) {
        static_assert(sizeof(MPI_Datatype) == 2 * sizeof(int), "handles are pointers");
        std::memcpy(arr + 4 * n, local.data(), 2 * n * sizeof(MPI_Datatype));
        ts = reinterpret_cast<MPI_Datatype*>(arr + 4 * n);
      } else {
        blocking_types = local;
        ts = blocking_types.data();
      }
      return nb ? MPI_Ialltoallw(s, scs, sds, ts, r, rcs, rds, ts + n, c, req)
                : MPI_Alltoallw(s, scs, sds, ts, r, rcs, rds, ts + n, c);
    }
  }
  return MPI_ERR_OTHER;
}

static void op_coll_run(Msg& m) {
  Msg a = m;  // callbacks of user ops reuse the slot
  bool user = a.a.coll.user_op != 0;
  // Check everything the call names before anything is allocated.
  MPI_Datatype st = wtype(a.a.coll.stype), rt = wtype(a.a.coll.rtype);
  if (a.a.coll.kind != chan::kReduceLocal) wcomm(a.a.coll.comm);
  wop(a.a.coll.op);
  if (a.a.coll.kind >= chan::kCollKinds) throw BadCall{"unknown collective"};
  uint64_t words = (a.a.coll.kind == chan::kAlltoallw ? 8 : 4) * a.a.coll.comm_size;
  if (a.extra.mode == chan::kInline && a.extra.bytes < words * sizeof(int))
    throw BadCall{"count arrays too short"};
  if (coll_direct(a, st, rt)) {
    m.rc = a.rc;
    return;
  }
  MPI_Datatype ut = MPI_DATATYPE_NULL;
  if (user) rt = ut = userop_type(rt, a.a.coll.user_op, a.a.coll.app_type);
  if (a.a.coll.nonblocking) {
    auto* q = new AReq;
    q->sbuf = own_copy(a.src);
    q->rbuf = own_dst(a.dst);
    q->dst = a.dst;
    if (a.dst.mode == chan::kInPlace) {  // nothing to free or deliver
      q->dst = {};
      char* r = q->rbuf;
      q->rbuf = nullptr;
      char* s = a.src.mode == chan::kInPlace ? static_cast<char*>(MPI_IN_PLACE) : q->sbuf;
      m.rc = run_coll(a, s, r, st, rt, &q->r, &q->arrays);
      m.a.request.request = u(q);
      return;
    }
    q->utype = ut;
    char* s = a.src.mode == chan::kInPlace ? static_cast<char*>(MPI_IN_PLACE) : q->sbuf;
    int rc = run_coll(a, s, q->rbuf, st, rt, &q->r, &q->arrays);
    m.rc = rc;
    m.a.request.request = u(q);
    return;
  }
  char* s = src_ptr(a.src, g_scratch[0], user);
  char* r = dst_ptr(a.dst, g_scratch[1], user);
  int rc;
  {
    Armed armed;  // a peer may wait for our pull before it joins (agent_rndv.cpp)
    rc = run_coll(a, s, r, st, rt, nullptr, nullptr);
  }
  if (rc == MPI_SUCCESS && a.dst.mode != chan::kNone) dst_done(a.dst, r, a.dst.bytes);
  if (user) userop_type_free(ut);
  m = a;
  m.rc = rc;
}

// ---------------------------------------------------------------- communicators

// World ranks of the members of g, into out.
static void world_ranks(MPI_Group g, int* out) {
  int size;
  MPI_Group wg;
  MPI_Group_size(g, &size);
  MPI_Comm_group(MPI_COMM_WORLD, &wg);
  std::vector<int> in(size);
  for (int i = 0; i < size; ++i) in[i] = i;
  MPI_Group_translate_ranks(g, size, in.data(), wg, out);
  MPI_Group_free(&wg);
}

// World ranks of c's members, then an intercommunicator's remote group's
// (*rsize of them, 0 for an intracommunicator).
static std::vector<int> members(MPI_Comm c, int* rsize) {
  int size, inter = 0;
  *rsize = 0;
  MPI_Comm_size(c, &size);
  MPI_Comm_test_inter(c, &inter);
  if (inter) MPI_Comm_remote_size(c, rsize);
  std::vector<int> w(size + *rsize);
  MPI_Group g;
  MPI_Comm_group(c, &g);
  world_ranks(g, w.data());
  MPI_Group_free(&g);
  if (inter) {
    MPI_Comm_remote_group(c, &g);
    world_ranks(g, w.data() + size);
    MPI_Group_free(&g);
  }
  return w;
}

// Reply: chan::CommOut (comm 0 if MPI_COMM_NULL);
// data: world ranks of the members (int32), then an intercommunicator's
// remote group's.
void reply_comm(Msg& m, MPI_Comm nc) {
  if (nc == MPI_COMM_NULL) {
    m.a.comm_out.comm = 0;
    return;
  }
  MPI_Comm_set_errhandler(nc, MPI_ERRORS_RETURN);
  int size, rank, rsize;
  MPI_Comm_size(nc, &size);
  MPI_Comm_rank(nc, &rank);
  std::vector<int> w = members(nc, &rsize);
  memcpy(g_sh->data, w.data(), w.size() * sizeof(int));
  remember_comm(nc);
  m.a.comm_out.comm = u(nc);
  m.a.comm_out.size = size;
  m.a.comm_out.rank = rank;
  m.a.comm_out.remote_size = static_cast<uint64_t>(rsize);
}

MPI_Group world_subgroup(int n, const int* ranks) {
  MPI_Group wg, g;
  MPI_Comm_group(MPI_COMM_WORLD, &wg);
  MPI_Group_incl(wg, n, ranks, &g);
  MPI_Group_free(&wg);
  return g;
}

// A collective counts for the job checkpoint's safe point (agent_ckpt.cpp):
// it may be held or paused before it starts.
struct CollectiveScope {
  explicit CollectiveScope(MPI_Comm c) { ckpt::enter_collective(c); }
  ~CollectiveScope() { ckpt::left_collective(); }
  CollectiveScope(const CollectiveScope&) = delete;
  CollectiveScope& operator=(const CollectiveScope&) = delete;
};

// MPI_Comm_create_group: collective over its group only, counted on no
// communicator (ckpt::enter_group_collective).
struct GroupCollectiveScope {
  GroupCollectiveScope() { ckpt::enter_group_collective(MPI_COMM_NULL); }
  ~GroupCollectiveScope() { ckpt::left_collective(); }
  GroupCollectiveScope(const GroupCollectiveScope&) = delete;
  GroupCollectiveScope& operator=(const GroupCollectiveScope&) = delete;
};

void op_coll(Msg& m) {
  if (m.a.coll.kind == chan::kReduceLocal) return op_coll_run(m);
  CollectiveScope scope(wcomm(m.a.coll.comm));
  op_coll_run(m);
}

static void op_comm_run(Msg& m, MPI_Comm c, MPI_Comm& nc);

void op_comm(Msg& m) {
  MPI_Comm c = wcomm(m.a.comm.parent);
  MPI_Comm nc = MPI_COMM_NULL;
  if (m.op == chan::kOpCommFree) {
    ckpt::comm_freed(c);
    forget_comm(c);
    m.rc = MPI_Comm_free(&c);
    return;
  }
  if (m.op == chan::kOpCommCreateGroup) {
    GroupCollectiveScope scope;
    op_comm_run(m, c, nc);
  } else {
    CollectiveScope scope(c);
    op_comm_run(m, c, nc);
  }
  if (m.rc != MPI_SUCCESS) return;
  const chan::CommArgs a = m.a.comm;  // the reply overwrites it
  reply_comm(m, nc);
  if (nc == MPI_COMM_NULL) return;
  // Lowest of both groups for an intercommunicator: both groups know it.
  auto* w = reinterpret_cast<const int*>(g_sh->data);
  int lowest = *std::min_element(w, w + m.a.comm_out.size + m.a.comm_out.remote_size);
  m.a.comm_out.id = chan::comm_id(a.parent_id, a.counter, static_cast<uint64_t>(lowest));
  ckpt::comm_added(nc, m.a.comm_out.id, 0);
}

// MPI_Comm_idup: Open MPI's own nonblocking duplication, so that a member
// may still be elsewhere (in a receive from a rank already waiting for the
// duplicate) while the others wait.  It counts as a collective of the
// parent when it starts.  The job checkpoint knows the new communicator by
// its id from then on (ckpt::comm_coming: collective count 0, as the app
// cannot use it before completion); the agent knows its handle once the
// request completes (adopt_made), and the completion tells the app.
void op_comm_idup(Msg& m) {
  MPI_Comm c = wcomm(m.a.comm.parent);
  const chan::CommArgs a = m.a.comm;  // the reply overwrites it
  CollectiveScope scope(c);
  auto* q = new AReq;
  q->made = new MPI_Comm(MPI_COMM_NULL);
  int rsize;
  std::vector<int> w = members(c, &rsize);  // a dup has its parent's members
  q->made_id = chan::comm_id(a.parent_id, a.counter,
                             static_cast<uint64_t>(*std::min_element(w.begin(), w.end())));
  m.rc = MPI_Comm_idup(c, q->made, &q->r);
  if (m.rc != MPI_SUCCESS) {
    areq_free(q);
    return;
  }
  ckpt::comm_coming(q->made_id);
  m.a.request.request = u(q);
}

uint64_t adopt_made(AReq* q) {
  if (!q->made || *q->made == MPI_COMM_NULL) return 0;
  MPI_Comm nc = *q->made;
  if (!q->adopted) {
    q->adopted = true;
    MPI_Comm_set_errhandler(nc, MPI_ERRORS_RETURN);
    remember_comm(nc);
    ckpt::comm_added(nc, q->made_id, 0);
  }
  return u(nc);
}

static void op_comm_run(Msg& m, MPI_Comm c, MPI_Comm& nc) {
  Armed armed;  // collective: a peer may wait for our pull before it joins
  switch (m.op) {
    case chan::kOpCommDup:
      m.rc = MPI_Comm_dup(c, &nc);
      break;
    case chan::kOpCommSplit:
      m.rc = MPI_Comm_split(c, static_cast<int>(m.a.comm.color), static_cast<int>(m.a.comm.key), &nc);
      break;
    case chan::kOpCommSplitType:
      m.rc = MPI_Comm_split_type(c, static_cast<int>(m.a.comm.color), static_cast<int>(m.a.comm.key),
                                 MPI_INFO_NULL, &nc);
      break;
    case chan::kOpCommCreate:
    case chan::kOpCommCreateGroup: {
      MPI_Group g = world_subgroup(static_cast<int>(m.a.comm.color), reinterpret_cast<int*>(g_sh->data));
      m.rc = m.op == chan::kOpCommCreate
                 ? MPI_Comm_create(c, g, &nc)
                 : MPI_Comm_create_group(c, g, static_cast<int>(m.a.comm.key), &nc);
      MPI_Group_free(&g);
      break;
    }
    case chan::kOpIntercommMerge:
      m.rc = MPI_Intercomm_merge(c, static_cast<int>(m.a.comm.color), &nc);
      break;
  }
}

}  // namespace crmpi::agent::internal
