// drained.cpp -- messages a job checkpoint's drain received for this
// process (g.drained, oldest first), served before anything the lower half
// delivers.
//
// Algorithm: every receive -- blocking, nonblocking, re-posted after a
// checkpoint, probes and matched probes -- first looks for the oldest
// drained message its (communicator, source, tag) matches, with MPI's
// wildcards.  The queue is in the order the agent received the messages,
// and all of them are older than anything still in MPI, so MPI's
// non-overtaking rule holds.  A message is kept as it was sent (packed for
// derived types), so delivering it unpacks into the receive's own datatype,
// exactly as a receive from the lower half does.
#include <cstring>

#include "api.h"

namespace crmpi {

namespace {
bool matches(const Drained& e, const VComm* c, int src, int tag) {
  return e.comm == c->id && (src == MPI_ANY_SOURCE || src == e.source) &&
         (tag == MPI_ANY_TAG || tag == e.tag);
}
}  // namespace

Drained* drained_match(const VComm* c, int src, int tag) {
  if (!c || src == MPI_PROC_NULL) return nullptr;
  for (Drained& e : g.drained)
    if (matches(e, c, src, tag)) return &e;
  return nullptr;
}

void drained_status(const Drained& e, MPI_Status* st) {
  if (st == MPI_STATUS_IGNORE) return;
  st->MPI_SOURCE = e.source;
  st->MPI_TAG = e.tag;  // MPI_ERROR untouched: a single status (core.cpp status_from_call)
  st->_cancelled = 0;
  st->_ucount = e.bytes.size();
}

int drained_receive(Drained* e, void* buf, int count, MPI_Datatype t, MPI_Status* st) {
  const TypeMap* tm = typemap(t);
  if (!tm) fatal("invalid datatype handle %p", static_cast<void*>(t));
  bool packed = packs(t);
  size_t cap = payload_bytes(*tm, count, packed), n = e->bytes.size();
  int rc = n > cap ? MPI_ERR_TRUNCATE : MPI_SUCCESS;
  size_t k = n > cap ? cap : n;
  if (packed)
    tm->unpack(e->bytes.data(), k, count, buf);
  else if (k)
    memcpy(buf, e->bytes.data(), k);
  drained_status(*e, st);
  if (st != MPI_STATUS_IGNORE) st->_ucount = k;
  for (auto it = g.drained.begin(); it != g.drained.end(); ++it)
    if (&*it == e) {
      g.drained.erase(it);
      break;
    }
  return rc;
}

bool drained_complete(VRequest* r) {
  if (g.drained.empty() || r->pmode != -1) return false;
  Drained* e = drained_match(r->comm, r->ppeer, r->ptag);
  if (!e) return false;
  MPI_Status st{};
  st.MPI_ERROR = drained_receive(e, const_cast<void*>(r->pbuf), r->pcount, r->type, &st);
  r->comm->recvd++;
  r->real = 0;
  r->local_done = true;
  r->has_status = true;
  r->done_status = st;
  return true;
}

}  // namespace crmpi
