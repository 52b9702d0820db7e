// MPI family: intercommunicators (issue 11). MPI_Intercomm_create and
// MPI_Intercomm_merge, the remote group, and the buffer rules of
// collectives on an intercommunicator (api_coll.cpp asks inter_spans).
//
// An intercommunicator is a real Open MPI intercommunicator in the agent.
// Its VComm keeps both groups as world ranks: `world` the local group (what
// MPI_Comm_rank/size/group report), `remote` the remote group, which names
// the ranks of point-to-point calls and the blocks of collectives
// (VComm::peers()). Dup, split and create on an intercommunicator go through
// api_comm.cpp's comm_op unchanged: the agent reports both groups, and the
// new id uses the lowest world rank of both, which both groups know.
#include <algorithm>

#include "api.h"

using namespace crmpi;

namespace crmpi {
MPI_Comm adopt_comm(const Call& m, VComm* parent, uint64_t counter, CommRecord rec);  // api_comm.cpp
int comm_op(uint32_t op, MPI_Comm parent, CommRecord rec, MPI_Comm* out, const char* fn);

namespace {

int span(const int* counts, const int* displs, int n) {
  int s = 0;
  for (int i = 0; i < n; ++i)
    if (counts[i] > 0) s = std::max(s, displs[i] + counts[i]);
  return s;
}

}  // namespace

int coll_blocks(const VComm& c, int kind) {
  if (!c.inter() || kind == chan::kReduceScatter) return c.size;
  return c.peer_size();
}

// MPI-3.1 5.2.2 and each collective's intercommunicator paragraph. In a
// rooted collective the root (MPI_ROOT) only sends (bcast, scatter) or only
// receives (reduce, gather), the rest of its group (MPI_PROC_NULL) does
// nothing, and the other group does the opposite. In-place is not allowed.
InterSpans inter_spans(int kind, const VComm& c, int root, int scount, int rcount,
                       const int* scounts, const int* sdispls, const int* rcounts,
                       const int* rdispls) {
  int n = c.peer_size();
  bool is_root = root == MPI_ROOT, idle = root == MPI_PROC_NULL;
  InterSpans sp;
  switch (kind) {
    case chan::kBcast:  // the root's buffer is its source: the agent starts from it
      sp.r = idle ? 0 : rcount;
      sp.prefill = is_root;
      break;
    case chan::kReduce:
      sp.s = is_root || idle ? 0 : rcount;
      sp.r = is_root ? rcount : 0;
      break;
    case chan::kReduceScatterBlock:  // a vector of (local size) blocks, reduced by the other group
      sp.s = rcount * c.size;
      sp.r = rcount;
      break;
    case chan::kReduceScatter: {
      int tot = 0;
      for (int i = 0; i < c.size; ++i) tot += rcounts[i];
      sp.s = tot;
      sp.r = rcounts[c.rank];
      break;
    }
    case chan::kGather:
      sp.s = is_root || idle ? 0 : scount;
      sp.r = is_root ? rcount * n : 0;
      break;
    case chan::kGatherv:
      sp.s = is_root || idle ? 0 : scount;
      sp.r = is_root ? span(rcounts, rdispls, n) : 0;
      sp.prefill = true;
      break;
    case chan::kScatter:
      sp.s = is_root ? scount * n : 0;
      sp.r = is_root || idle ? 0 : rcount;
      break;
    case chan::kScatterv:
      sp.s = is_root ? span(scounts, sdispls, n) : 0;
      sp.r = is_root || idle ? 0 : rcount;
      break;
    case chan::kAllgather:
      sp.s = scount;
      sp.r = rcount * n;
      break;
    case chan::kAllgatherv:
      sp.s = scount;
      sp.r = span(rcounts, rdispls, n);
      sp.prefill = true;
      break;
    case chan::kAlltoall:
      sp.s = scount * n;
      sp.r = rcount * n;
      break;
    case chan::kAlltoallv:
      sp.s = span(scounts, sdispls, n);
      sp.r = span(rcounts, rdispls, n);
      sp.prefill = true;
      break;
    default:  // allreduce; scan and exscan are erroneous here (Open MPI says so)
      sp.s = sp.r = rcount;
      break;
  }
  return sp;
}

}  // namespace crmpi

CRMPI_API int PMPI_Intercomm_create(MPI_Comm local, int local_leader, MPI_Comm peer,
                                    int remote_leader, int tag, MPI_Comm* out) {
  Lock l;
  VComm* lc = comm(local);
  if (!lc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  if (lc->inter()) return check(lc, local, MPI_ERR_COMM, CRMPI_NAME);
  // The peer communicator is significant at the local leader only.
  bool leader = lc->rank == local_leader;
  VComm* pc = leader ? comm(peer) : nullptr;
  if (leader && !pc) return check(lc, local, MPI_ERR_COMM, CRMPI_NAME);
  Call& m = begin(chan::kOpIntercommCreate);
  uint64_t counter = ++lc->creations;
  m.a.intercomm.local = lc->real;
  m.a.intercomm.local_leader = static_cast<uint64_t>(local_leader);
  m.a.intercomm.peer = pc ? pc->real : 0;
  m.a.intercomm.remote_leader = static_cast<uint64_t>(remote_leader);
  m.a.intercomm.tag = static_cast<uint64_t>(tag);
  m.a.intercomm.local_id = lc->id;
  m.a.intercomm.counter = counter;
  int rc = execute(m);
  if (rc == chan::kRcPaused) {  // a job checkpoint came first: make it again
    --lc->creations;
    return PMPI_Intercomm_create(local, local_leader, peer, remote_leader, tag, out);
  }
  if (rc != MPI_SUCCESS) return check(lc, local, rc, CRMPI_NAME);
  lc->coll_seq++;  // a collective of the local communicator (the agent counts it too)
  *out = adopt_comm(m, lc, counter, CommRecord{CommRecord::kInterCreate});
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Intercomm_merge(MPI_Comm inter, int high, MPI_Comm* out) {
  VComm* ic = comm(inter);
  if (!ic) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  if (!ic->inter()) return check(ic, inter, MPI_ERR_COMM, CRMPI_NAME);
  CommRecord rec{CommRecord::kInterMerge};
  rec.color = high ? 1 : 0;
  return comm_op(chan::kOpIntercommMerge, inter, rec, out, CRMPI_NAME);
}

CRMPI_API int PMPI_Comm_remote_size(MPI_Comm c, int* size) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  if (!vc->inter()) return check(vc, c, MPI_ERR_COMM, CRMPI_NAME);
  *size = static_cast<int>(vc->remote.size());
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_remote_group(MPI_Comm c, MPI_Group* out) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  if (!vc->inter()) return check(vc, c, MPI_ERR_COMM, CRMPI_NAME);
  auto* grp = new VGroup;
  grp->world = vc->remote;
  *out = reinterpret_cast<MPI_Group>(grp);
  return MPI_SUCCESS;
}
