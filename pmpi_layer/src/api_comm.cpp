// MPI family: communicators. rank/size, dup, split, split_type, create,
// create_group, free, compare, names.
//
// Algorithm (job-unique ids): a communicator's id is mix(parent id, parent's
// creation counter, lowest world rank of the new members). All members of the
// parent call its creating collectives in the same order, so they agree on
// the counter; the lowest member tells apart the several communicators one
// split creates. No message is needed. create_group is collective only over
// the group, so it counts per (parent, group, tag) instead.
#include <algorithm>
#include <cstring>

#include "api.h"
#include "crmpi/crmpi_ext.h"

using namespace crmpi;

int crmpi_copy_attrs(VComm* from, MPI_Comm fromh, VComm* to, MPI_Comm toh);  // api_attr.cpp
int crmpi_delete_all_attrs(VComm* c, MPI_Comm h);

namespace crmpi {

namespace {
// The id of a new communicator of `parent` (its members set): an
// intercommunicator's lowest member counts in both groups.
uint64_t new_comm_id(const VComm& parent, uint64_t counter, const VComm& c) {
  int lowest = *std::min_element(c.world.begin(), c.world.end());
  for (int r : c.remote) lowest = std::min(lowest, r);
  return mix_id(parent.id, counter, static_cast<uint64_t>(lowest));
}

// The end of a freed communicator: its lower half, then it.
int free_lower_half(VComm* vc) {
  int rc = MPI_SUCCESS;
  Call& m = begin(chan::kOpCommFree);  // a restart may park us here: read `real` after it
  if (vc->real) {  // 0: not rebuilt at a restart, another member had freed it (ckpt.cpp)
    m.a.comm_free.comm = vc->real;
    rc = execute(m);
  }  // else the lent call is left unused (nothing was sent)
  g.comms.erase(vc->id);
  delete vc;
  return rc;
}
}  // namespace

// Turn a kOpComm* reply (call `m`) into a new VComm (or MPI_COMM_NULL).
MPI_Comm adopt_comm(const Call& m, VComm* parent, uint64_t counter, CommRecord rec) {
  if (!m.a.comm_out.comm) return MPI_COMM_NULL;
  auto* c = new VComm;
  c->real = m.a.comm_out.comm;
  c->size = static_cast<int>(m.a.comm_out.size);
  c->rank = static_cast<int>(m.a.comm_out.rank);
  auto* w = reinterpret_cast<const int*>(m.arena.at(0));
  c->world.assign(w, w + c->size);
  c->remote.assign(w + c->size, w + c->size + m.a.comm_out.remote_size);  // an intercommunicator's
  c->id = new_comm_id(*parent, counter, *c);
  // MPI_Intercomm_create: the two groups agreed on the id in the agent
  // (protocol.h, IntercommArgs).
  if (rec.how == CommRecord::kInterCreate) c->id = m.a.comm_out.id;
  if (m.a.comm_out.id != c->id)
    fatal("libcrpmpi and the agent disagree on a new communicator's id (%016llx vs %016llx)",
          static_cast<unsigned long long>(c->id),
          static_cast<unsigned long long>(m.a.comm_out.id));
  c->errh = parent->errh;
  rec.parent_id = parent->id;
  c->rec = std::move(rec);
  g.comms[c->id] = c;
  return reinterpret_cast<MPI_Comm>(c);
}

int comm_op(uint32_t op, MPI_Comm parent, CommRecord rec, MPI_Comm* out, const char* fn) {
  Lock l;
  VComm* p = comm(parent);
  if (!p) return check_world(MPI_ERR_COMM, fn);
  Call& m = begin(op);
  // The counter this creation advances (undone if the call is paused):
  // the parent's, or for create_group -- collective over the group only --
  // one per (parent, group).
  static std::map<std::pair<uint64_t, std::vector<int>>, uint64_t> per_group;
  uint64_t& bump =
      op == chan::kOpCommCreateGroup ? per_group[{p->id, rec.group}] : p->creations;
  uint64_t counter = ++bump;
  if (op == chan::kOpCommCreateGroup)
    counter = mix_id(counter, static_cast<uint64_t>(rec.tag), 0xC6);
  m.a.comm.parent = p->real;
  m.a.comm.color = static_cast<uint64_t>(rec.color);
  m.a.comm.key = static_cast<uint64_t>(rec.key);
  if (op == chan::kOpCommCreate || op == chan::kOpCommCreateGroup) {
    m.a.comm.color = rec.group.size();
    m.a.comm.key = static_cast<uint64_t>(rec.tag);
    memcpy(m.arena.at(0), rec.group.data(),
           rec.group.size() * sizeof(int));  // the agent reads it at offset 0
  }
  m.a.comm.parent_id = p->id;
  m.a.comm.counter = counter;
  int rc = execute(m);
  if (rc == chan::kRcPaused) {  // a job checkpoint came first: make it again
    --bump;
    return comm_op(op, parent, std::move(rec), out, fn);
  }
  if (rc != MPI_SUCCESS) return check(p, parent, rc, fn);
  // Every creation but create_group is a collective of the parent (the
  // agent counts it too: the checkpoint's safe point).
  if (op != chan::kOpCommCreateGroup) p->coll_seq++;
  *out = adopt_comm(m, p, counter, std::move(rec));
  return MPI_SUCCESS;
}

}  // namespace crmpi

CRMPI_API int PMPI_Comm_rank(MPI_Comm c, int* rank) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  *rank = vc->rank;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_size(MPI_Comm c, int* size) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  *size = vc->size;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_dup(MPI_Comm c, MPI_Comm* out) {
  CommRecord rec{CommRecord::kDup};
  int rc = comm_op(chan::kOpCommDup, c, rec, out, CRMPI_NAME);
  if (rc == MPI_SUCCESS && *out != MPI_COMM_NULL) {
    VComm* n = comm(*out);
    n->topo = comm(c)->topo;
    int arc = crmpi_copy_attrs(comm(c), c, n, *out);
    if (arc != MPI_SUCCESS) {  // a copy callback failed: so did the dup
      PMPI_Comm_free(out);
      return check(comm(c), c, arc, CRMPI_NAME);
    }
  }
  return rc;
}

CRMPI_API int PMPI_Comm_dup_with_info(MPI_Comm c, MPI_Info info, MPI_Comm* out) {
  int rc = PMPI_Comm_dup(c, out);
  if (rc == MPI_SUCCESS && *out != MPI_COMM_NULL && info != MPI_INFO_NULL)
    rc = PMPI_Comm_set_info(*out, info);  // its hints, not the parent's
  return rc;
}

CRMPI_API int PMPI_Comm_split(MPI_Comm c, int color, int key, MPI_Comm* out) {
  CommRecord rec{CommRecord::kSplit};
  rec.color = color;
  rec.key = key;
  return comm_op(chan::kOpCommSplit, c, rec, out, CRMPI_NAME);
}

CRMPI_API int PMPI_Comm_split_type(MPI_Comm c, int type, int key, MPI_Info, MPI_Comm* out) {
  CommRecord rec{CommRecord::kSplitType};
  rec.color = type;
  rec.key = key;
  return comm_op(chan::kOpCommSplitType, c, rec, out, CRMPI_NAME);
}

CRMPI_API int PMPI_Comm_create(MPI_Comm c, MPI_Group grp, MPI_Comm* out) {
  CommRecord rec{CommRecord::kCreate};
  if (is_virtual(grp, kMagicGroup)) rec.group = reinterpret_cast<VGroup*>(grp)->world;
  return comm_op(chan::kOpCommCreate, c, rec, out, CRMPI_NAME);
}

CRMPI_API int PMPI_Comm_create_group(MPI_Comm c, MPI_Group grp, int tag, MPI_Comm* out) {
  CommRecord rec{CommRecord::kCreateGroup};
  if (is_virtual(grp, kMagicGroup)) rec.group = reinterpret_cast<VGroup*>(grp)->world;
  rec.tag = tag;
  return comm_op(chan::kOpCommCreateGroup, c, rec, out, CRMPI_NAME);
}

CRMPI_API int PMPI_Comm_free(MPI_Comm* c) {
  Lock l;
  VComm* vc = comm(*c);
  if (!vc || vc == &g.world || vc == &g.self) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  int arc = crmpi_delete_all_attrs(vc, *c);
  if (arc != MPI_SUCCESS) return check(vc, *c, arc, CRMPI_NAME);  // a delete callback failed
  if (vc->shadow != MPI_COMM_NULL) PMPI_Comm_free(&vc->shadow);
  *c = MPI_COMM_NULL;
  vc->freed = true;
  if (vc->requests) return MPI_SUCCESS;  // the last one's end frees it (reap_comms)
  return check_world(free_lower_half(vc), CRMPI_NAME);
}

void crmpi::reap_comms() {
  std::vector<VComm*> dead;
  dead.swap(g.dead_comms);
  for (VComm* vc : dead) free_lower_half(vc);
}

CRMPI_API int PMPI_Comm_disconnect(MPI_Comm* c) {
  return PMPI_Comm_free(c);
}

CRMPI_API int PMPI_Comm_compare(MPI_Comm a, MPI_Comm b, int* result) {
  VComm *x = comm(a), *y = comm(b);
  if (!x || !y) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  // Intercommunicators compare both groups; never equal to an intracommunicator.
  auto sorted = [](std::vector<int> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  if (x == y)
    *result = MPI_IDENT;
  else if (x->inter() != y->inter())
    *result = MPI_UNEQUAL;
  else if (x->world == y->world && x->remote == y->remote)
    *result = MPI_CONGRUENT;
  else
    *result = sorted(x->world) == sorted(y->world) && sorted(x->remote) == sorted(y->remote)
                  ? MPI_SIMILAR
                  : MPI_UNEQUAL;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_test_inter(MPI_Comm c, int* flag) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  *flag = vc->inter();
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_set_name(MPI_Comm c, const char* name) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  vc->name = name;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_get_name(MPI_Comm c, char* name, int* len) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  snprintf(name, MPI_MAX_OBJECT_NAME, "%s", vc->name.c_str());
  *len = static_cast<int>(strlen(name));
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_group(MPI_Comm c, MPI_Group* out) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  auto* grp = new VGroup;
  grp->world = vc->world;
  *out = reinterpret_cast<MPI_Group>(grp);
  return MPI_SUCCESS;
}

// ---------------------------------------------------------------- extensions (crmpi/crmpi_ext.h)

extern "C" __attribute__((visibility("default"))) uint64_t crmpi_comm_id(MPI_Comm c) {
  VComm* vc = comm(c);
  return vc ? vc->id : 0;
}

extern "C" __attribute__((visibility("default"))) int crmpi_comm_counters(MPI_Comm c,
                                                                          uint64_t* coll,
                                                                          uint64_t* sent,
                                                                          uint64_t* recvd) {
  VComm* vc = comm(c);
  if (!vc) return MPI_ERR_COMM;
  if (coll) *coll = vc->coll_seq;
  if (sent) *sent = vc->sent;
  if (recvd) *recvd = vc->recvd;
  return MPI_SUCCESS;
}

extern "C" __attribute__((visibility("default"))) int crmpi_request_record(MPI_Request req,
                                                                           int* kind,
                                                                           uint64_t* comm_id,
                                                                           uint64_t* coll_seq) {
  if (!is_virtual(req, kMagicReq)) return MPI_ERR_REQUEST;
  auto* r = reinterpret_cast<VRequest*>(req);
  int k = r->kind == VRequest::kColl   ? CRMPI_REQ_COLL
          : r->kind == VRequest::kRecv ? CRMPI_REQ_RECV
                                       : CRMPI_REQ_SEND;
  if (kind) *kind = k;
  if (comm_id) *comm_id = r->comm ? r->comm->id : 0;
  if (coll_seq) *coll_seq = k == CRMPI_REQ_COLL ? r->coll.seq : 0;
  return MPI_SUCCESS;
}

CRMPI_API int crmpi_request_checkpoint(void) {
  Lock l;
  if (!g.initialized || g.finalized) return MPI_ERR_OTHER;
  Call& m = begin(chan::kOpCkptRequest);
  m.a.ckpt.after = 0;  // continue
  return execute(m);
}

// ---------------------------------------------------------------- issue 11: idup, info

// MPI_Comm_idup: the agent posts Open MPI's own MPI_Comm_idup, so a member
// may still be elsewhere (say, in a receive from a rank that already waits
// for the duplicate) while the others wait.  The new communicator exists at
// once with its id, group and attributes (copied now, as by MPI_Comm_dup);
// it gets its lower half when the request completes (api_req.cpp
// adopt_made), and MPI forbids using it before.  Like a dup it counts as a
// collective of the parent for the job checkpoint when it starts.
CRMPI_API int PMPI_Comm_idup(MPI_Comm c, MPI_Comm* out, MPI_Request* req) {
  Lock l;
  VComm* p = comm(c);
  if (!p) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  Call& m = begin(chan::kOpCommIdup);
  uint64_t counter = ++p->creations;
  m.a.comm.parent = p->real;
  m.a.comm.parent_id = p->id;
  m.a.comm.counter = counter;
  int rc = execute(m);
  if (rc == chan::kRcPaused) {  // a job checkpoint came first: make it again
    --p->creations;
    return PMPI_Comm_idup(c, out, req);
  }
  if (rc != MPI_SUCCESS) return check(p, c, rc, CRMPI_NAME);
  p->coll_seq++;
  auto* n = new VComm;
  n->size = p->size;
  n->rank = p->rank;
  n->world = p->world;
  n->remote = p->remote;
  n->id = new_comm_id(*p, counter, *n);
  n->errh = p->errh;
  n->topo = p->topo;
  n->rec = CommRecord{CommRecord::kDup};
  n->rec.parent_id = p->id;
  g.comms[n->id] = n;
  VRequest* r = new_request(VRequest::kColl, p);
  r->real = m.a.request.request;
  r->coll.kind = chan::kBarrier;  // a collective of the parent, moving no data
  r->coll.seq = p->coll_seq;
  r->made = n;
  *req = reinterpret_cast<MPI_Request>(r);
  *out = reinterpret_cast<MPI_Comm>(n);
  int arc = crmpi_copy_attrs(p, c, n, *out);
  if (arc != MPI_SUCCESS) {  // a copy callback failed: so did the idup, once it is done
    PMPI_Wait(req, MPI_STATUS_IGNORE);
    PMPI_Comm_free(out);
    return check(p, c, arc, CRMPI_NAME);
  }
  return MPI_SUCCESS;
}

// Communicator hints (MPI-3.1 6.4.4): kept in the app.  MPI_Comm_set_info
// adds or replaces hints; MPI_Comm_get_info returns a new info object with
// them.  None changes how crmpi communicates.
CRMPI_API int PMPI_Comm_set_info(MPI_Comm c, MPI_Info info) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  if (!is_virtual(info, kMagicInfo)) return check(vc, c, MPI_ERR_INFO, CRMPI_NAME);
  for (auto& [k, v] : reinterpret_cast<VInfo*>(info)->kv) {
    auto it = vc->hints.begin();
    while (it != vc->hints.end() && it->first != k) ++it;
    if (it != vc->hints.end())
      it->second = v;
    else
      vc->hints.emplace_back(k, v);
  }
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Comm_get_info(MPI_Comm c, MPI_Info* out) {
  VComm* vc = comm(c);
  if (!vc) return check_world(MPI_ERR_COMM, CRMPI_NAME);
  auto* n = new VInfo;
  n->kv = vc->hints;
  *out = reinterpret_cast<MPI_Info>(n);
  return MPI_SUCCESS;
}
