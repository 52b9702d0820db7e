// cr_agent: intercommunicators (issue 11) -- MPI_Intercomm_create, and a
// restart's rebuild of an intercommunicator from its two groups.
// MPI_Intercomm_merge and the dup/split/create of an intercommunicator go
// through op_comm (agent_coll.cpp) like the other creations.
#include <algorithm>
#include <vector>

#include "agent_ckpt.h"
#include "agent_internal.h"

namespace crmpi::agent::internal {

namespace {

// The intercommunicator creation is a collective of the local communicator
// for the job checkpoint's safe point (agent_ckpt.cpp), and a group
// collective: the remote group's members count it on another communicator.
struct LocalScope {
  explicit LocalScope(MPI_Comm c) { ckpt::enter_group_collective(c); }
  ~LocalScope() { ckpt::left_collective(); }
  LocalScope(const LocalScope&) = delete;
  LocalScope& operator=(const LocalScope&) = delete;
};

int tag_from_id(uint64_t id) {
  int ub = 32767, *v, flag = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &v, &flag);
  if (flag) ub = *v;
  return static_cast<int>(id % (ub + 1ull));
}

}  // namespace

// Algorithm (the new id, protocol.h IntercommArgs): the two groups share no
// creation counter, so each group names the intercommunicator by its own
// local communicator (comm_id of its id, counter and lowest member: the same
// on all its members), one MPI_Allreduce over the new intercommunicator
// hands each group the other's name (an intercommunicator reduction
// delivers the remote group's values), and both combine the pair in an
// order-free way.  The allreduce runs before the communicator is the app's:
// it counts in no collective sequence.
void op_intercomm_create(Msg& m) {
  const chan::IntercommArgs a = m.a.intercomm;  // the reply overwrites it
  MPI_Comm local = wcomm(a.local);
  MPI_Comm peer = a.peer ? wcomm(a.peer) : MPI_COMM_NULL;
  MPI_Comm nc = MPI_COMM_NULL;
  {
    LocalScope scope(local);
    Armed armed;  // a peer may wait for our pull before it joins
    m.rc = MPI_Intercomm_create(local, static_cast<int>(a.local_leader), peer,
                                static_cast<int>(a.remote_leader), static_cast<int>(a.tag), &nc);
    if (m.rc != MPI_SUCCESS) return;
    reply_comm(m, nc);
    auto* w = reinterpret_cast<const int*>(g_sh->data);
    int lowest = *std::min_element(w, w + m.a.comm_out.size);
    uint64_t mine = chan::comm_id(a.local_id, a.counter, static_cast<uint64_t>(lowest)), theirs = 0;
    m.rc = MPI_Allreduce(&mine, &theirs, 1, MPI_UINT64_T, MPI_MAX, nc);
    if (m.rc != MPI_SUCCESS) return;
    m.a.comm_out.id = chan::comm_id(std::min(mine, theirs), std::max(mine, theirs), chan::kIntercommSalt);
  }
  ckpt::comm_added(nc, m.a.comm_out.id, 0);
}

// Restart (agent_drain.cpp op_comm_rebuild): the intercommunicator of local
// group `local` (world ranks, rank order; this rank among them) and remote
// group `remote`: the local group's communicator (MPI_Comm_create_group on
// MPI_COMM_WORLD), then MPI_Intercomm_create over MPI_COMM_WORLD between the
// groups' first members, which keeps both groups' rank orders.  Both steps
// use a tag from the id; the remote group makes the same intercommunicator
// at the same place of the common id order.
int rebuild_intercomm(uint64_t id, const std::vector<int>& local, const std::vector<int>& remote,
                      MPI_Comm* out) {
  int tag = tag_from_id(id);
  MPI_Group g = world_subgroup(static_cast<int>(local.size()), local.data());
  MPI_Comm lc = MPI_COMM_NULL;
  int rc = MPI_Comm_create_group(MPI_COMM_WORLD, g, tag, &lc);
  MPI_Group_free(&g);
  if (rc != MPI_SUCCESS) return rc;
  rc = MPI_Intercomm_create(lc, 0, MPI_COMM_WORLD, remote[0], tag, out);
  MPI_Comm_free(&lc);
  return rc;
}

}  // namespace crmpi::agent::internal
