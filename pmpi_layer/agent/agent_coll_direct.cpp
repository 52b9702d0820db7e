// cr_agent: single-copy data movement for large broadcasts, gathers,
// scatters, allgathers and all-to-alls between ranks of one node.
//
// Algorithm: through Open MPI, a large collective's payload is copied three
// times (app -> agent, agent -> agent, agent -> app). When every rank of the
// job runs on this node and may read every other's memory (g_job_local,
// settled by all ranks together at start, so that all take the same path),
// and the blocks are at least CRMPI_RNDV_MIN bytes (sizes agree on all ranks,
// as MPI's type-signature rule requires), the agents exchange only where
// each rank's data lies (pid and address: the app's buffer, or the agent's
// channel area for inline buffers) with one small MPI collective. Then each
// rank copies the blocks it receives straight from their owners: into the
// channel area with process_vm_readv itself, or into the app's buffer by
// asking its app (callback kCbPull), like a point-to-point rendezvous. A
// barrier ends the operation, so nobody returns (and reuses its buffer)
// while another still reads it. The blocking MPI calls are Armed: pending
// point-to-point rendezvous are served meanwhile.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "agent_internal.h"

namespace crmpi::agent::internal {

namespace {

struct Where {
  int64_t pid;
  uint64_t addr;
};

Where where(const Buf& b) {
  if (b.mode == chan::kInline) return {getpid(), reinterpret_cast<uint64_t>(g_sh->data + b.off)};
  return {g_app, b.addr};
}

// Copy n bytes from w into dst at offset off.
bool copy_into(const Buf& dst, size_t off, const Where& w, size_t n) {
  if (n == 0) return true;
  if (dst.mode == chan::kNone || off + n > dst.bytes) {  // erroneous counts: never overrun
    errno = EMSGSIZE;
    return false;
  }
  if (dst.mode == chan::kInline)
    return vm_copy(static_cast<int>(w.pid), false, w.addr, g_sh->data + dst.off + off, n);
  Buf part = dst;
  part.addr += off;
  return app_copy(part, static_cast<int>(w.pid), w.addr, n);
}

size_t type_bytes(MPI_Datatype t, uint64_t count) {
  int s = 0;
  MPI_Type_size(t, &s);
  return static_cast<size_t>(s) * count;
}

}  // namespace

bool coll_direct(Msg& m, MPI_Datatype st, MPI_Datatype rt) {
  if (!g_job_local || m.a.coll.nonblocking || m.a.coll.user_op) return false;  // nonblocking, user op
  uint64_t kind = m.a.coll.kind;
  if (kind != chan::kBcast && kind != chan::kGather && kind != chan::kScatter &&
      kind != chan::kAllgather && kind != chan::kAlltoall)
    return false;
  MPI_Comm c = wcomm(m.a.coll.comm);
  int inter = 0;
  MPI_Comm_test_inter(c, &inter);
  if (inter) return false;  // roots and blocks follow other rules (MPI_ROOT, remote group)
  int me, n, root = static_cast<int>(m.a.coll.root);
  MPI_Comm_rank(c, &me);
  MPI_Comm_size(c, &n);
  const Buf &s = m.src, &r = m.dst;
  bool in_place = s.mode == chan::kInPlace;
  // The block size, the same on every rank; taken from the arguments that
  // are significant on that rank.
  size_t blk;
  if (kind == chan::kBcast || (kind == chan::kScatter && me != root) ||
      (kind == chan::kGather && me == root) || (kind == chan::kAllgather && in_place))
    blk = type_bytes(rt, m.a.coll.rcount);
  else
    blk = type_bytes(st, m.a.coll.scount);
  if (blk < g_rndv_min) return false;
  if (kind == chan::kAlltoall && in_place) return false;  // all ranks agree: in place everywhere

  Armed armed;
  Where mine{}, one{};
  std::vector<Where> all;
  int rc = MPI_SUCCESS;
  bool ok = true;
  switch (kind) {
    case chan::kBcast:  // everybody reads the root's buffer
      if (me == root) one = where(r);
      rc = MPI_Bcast(&one, sizeof one, MPI_BYTE, root, c);
      if (rc == MPI_SUCCESS && me != root) ok = copy_into(r, 0, one, blk);
      break;
    case chan::kScatter:  // everybody reads its block of the root's send buffer
      if (me == root) one = where(s);
      rc = MPI_Bcast(&one, sizeof one, MPI_BYTE, root, c);
      if (rc == MPI_SUCCESS && r.mode != chan::kInPlace) {
        one.addr += static_cast<uint64_t>(me) * blk;
        ok = copy_into(r, 0, one, blk);
      }
      break;
    case chan::kGather:  // the root reads everybody's send buffer
      mine = in_place ? Where{0, 0} : where(s);
      all.resize(n);
      rc = MPI_Gather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, root, c);
      if (rc == MPI_SUCCESS && me == root)
        for (int i = 0; i < n && ok; ++i)
          if (!(i == me && in_place)) ok = copy_into(r, static_cast<size_t>(i) * blk, all[i], blk);
      break;
    case chan::kAllgather:
    case chan::kAlltoall:
      if (in_place) {  // allgather: my block is already in place in the receive buffer
        mine = where(r);
        mine.addr += static_cast<uint64_t>(me) * blk;
      } else {
        mine = where(s);
      }
      all.resize(n);
      rc = MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, c);
      for (int i = 0; rc == MPI_SUCCESS && i < n && ok; ++i) {
        if (i == me && in_place) continue;
        Where w = all[i];
        if (kind == chan::kAlltoall) w.addr += static_cast<uint64_t>(me) * blk;
        ok = copy_into(r, static_cast<size_t>(i) * blk, w, blk);
      }
      break;
  }
  if (!ok)
    fprintf(stderr, "crmpi: rank %d: cannot copy a collective's data from a node peer: %m\n",
            g_rank);
  int brc = MPI_Barrier(c);
  m.rc = rc != MPI_SUCCESS ? rc : !ok ? MPI_ERR_OTHER : brc;
  return true;
}

}  // namespace crmpi::agent::internal
