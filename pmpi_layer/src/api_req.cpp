// MPI family: requests. Wait/test any/all/some, cancel, free, test_cancelled.
//
// Algorithm: one kOpComplete call carries the lower-half ids of all active
// requests (0 for null/inactive ones), the agent runs the real MPI_Wait*/
// MPI_Test* and returns, per completed request, its status and where its
// received bytes are (inline in the reply, or already written by CMA). The
// app then unpacks, counts receives, and frees or deactivates the handles.
#include <time.h>

#include <cstring>
#include <vector>

#include "api.h"

using namespace crmpi;

namespace crmpi {

// Algorithm (paced polling): every MPI_Test* or MPI_Iprobe is a round trip
// to the agent (about 2.5 us with app and agent on one core; natively a few
// tens of ns). A program that polls while it computes (hpcc's
// MPIRandomAccess tests its receive once per generated update) would spend
// all its time in round trips. So a poll that found nothing is answered
// "not yet" locally when the same poll (same requests, or same probe
// arguments) is repeated within g.test_pace_ns: at most one real poll per
// interval per poll site. MPI only requires that repeated tests eventually
// succeed, which still holds; a program spinning on Test sees a completion
// at most that much later. A few recent polls are remembered, since
// programs alternate between polling sites.
namespace {
struct Paced {
  uint64_t key = 0;
  long until = 0;
};
Paced g_paced[8];
unsigned g_paced_next = 0;
long mono_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}
}  // namespace

bool pace_skip(uint64_t key) {
  if (g.test_pace_ns <= 0) return false;
  for (Paced& p : g_paced)
    if (p.key == key) {
      long left = p.until - mono_ns();  // (a deadline from before a restart is far off: ignore)
      return left > 0 && left <= g.test_pace_ns;
    }
  return false;
}

void pace_reset() {
  for (Paced& p : g_paced) p.key = 0;
}

void pace_note(uint64_t key, bool found) {
  if (g.test_pace_ns <= 0) return;
  for (Paced& p : g_paced)
    if (p.key == key) {
      p.until = found ? 0 : mono_ns() + g.test_pace_ns;
      return;
    }
  if (found) return;
  g_paced[g_paced_next++ % 8] = {key, mono_ns() + g.test_pace_ns};
}

VRequest* new_request(VRequest::Kind k, VComm* c) {
  auto* r = new VRequest;
  r->kind = k;
  r->comm = c;
  return r;
}

static void empty_status(MPI_Status* st) {
  if (st == MPI_STATUS_IGNORE) return;
  st->MPI_SOURCE = MPI_ANY_SOURCE;
  st->MPI_TAG = MPI_ANY_TAG;
  st->MPI_ERROR = MPI_SUCCESS;
  st->_cancelled = 0;
  st->_ucount = 0;
}

int complete_requests(int kind, int n, MPI_Request* reqs, int* index, int* flag, int* outcount,
                      int* indices, MPI_Status* statuses, const char* fn) {
  Lock l;
  char* data = lower_half().data();
  auto* ids = reinterpret_cast<uint64_t*>(data);
  int active = 0;
  std::vector<int> local;  // posted sends: complete without the agent
  for (int i = 0; i < n; ++i) {
    VRequest* r = is_virtual(reqs[i], kMagicReq) ? reinterpret_cast<VRequest*>(reqs[i]) : nullptr;
    if (r && r->local_done) local.push_back(i);
    ids[i] = r && !r->local_done ? r->real : 0;
    active += ids[i] != 0;
  }
  bool single = kind == chan::kWait || kind == chan::kTest || kind == chan::kGetStatus;
  // Algorithm (locally complete requests): Wait/Test/any/some return them
  // without asking the agent; Waitall completes them and asks only about
  // the others; Testall frees them only if the agent reports all others
  // complete (all or nothing).
  auto complete_local = [&](int i, MPI_Status* st) {
    empty_status(st);
    if (kind == chan::kGetStatus) return;
    delete reinterpret_cast<VRequest*>(reqs[i]);
    reqs[i] = MPI_REQUEST_NULL;
  };
  if (!local.empty() && kind != chan::kWaitall && kind != chan::kTestall) {
    if (single || kind == chan::kWaitany || kind == chan::kTestany) {
      complete_local(local[0], statuses);
      if (index) *index = local[0];
      if (flag) *flag = 1;
    } else {  // waitsome / testsome
      for (size_t k = 0; k < local.size(); ++k) {
        indices[k] = local[k];
        complete_local(local[k],
                       statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[k]);
      }
      *outcount = static_cast<int>(local.size());
    }
    return MPI_SUCCESS;
  }
  if (!local.empty() && kind == chan::kWaitall) {
    for (int i : local)
      complete_local(i, statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i]);
    local.clear();
  }
  if (!local.empty() && !active) {  // testall, only posted sends: all complete
    for (int i : local)
      complete_local(i, statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i]);
    if (flag) *flag = 1;
    return MPI_SUCCESS;
  }
  if (!active) {  // the standard's answers for all-null lists
    if (single) {
      empty_status(statuses);
      if (flag) *flag = 1;
    } else if (kind == chan::kWaitany || kind == chan::kTestany) {
      *index = MPI_UNDEFINED;
      if (flag) *flag = 1;
      empty_status(statuses);
    } else if (kind == chan::kWaitall || kind == chan::kTestall) {
      if (flag) *flag = 1;
      if (statuses != MPI_STATUSES_IGNORE)
        for (int i = 0; i < n; ++i) empty_status(&statuses[i]);
    } else {
      *outcount = MPI_UNDEFINED;
    }
    return MPI_SUCCESS;
  }
  bool polls = kind == chan::kTest || kind == chan::kTestany || kind == chan::kTestsome ||
               kind == chan::kTestall;
  uint64_t key = 0;
  if (polls) {
    key = 0x9e3779b97f4a7c15ull * (kind + 1);
    for (int i = 0; i < n; ++i) key = (key ^ ids[i]) * 0x100000001b3ull;
    if (pace_skip(key)) {  // "not yet", without the agent
      if (flag) *flag = 0;
      if (index) *index = MPI_UNDEFINED;
      if (outcount) *outcount = 0;
      return MPI_SUCCESS;
    }
  }
  chan::Msg& m = msg();
  m.a.complete.kind = static_cast<uint64_t>(kind);
  m.a.complete.n = static_cast<uint64_t>(n);
  int rc = polls ? poll_call(chan::kOpComplete) : call(chan::kOpComplete);
  auto* wst = reinterpret_cast<chan::WireStatus*>(ids + n);
  auto* ioff = reinterpret_cast<int64_t*>(wst + n);
  auto* done = reinterpret_cast<uint8_t*>(ioff + n);
  int k = 0;
  bool all = kind == chan::kWaitall || kind == chan::kTestall;
  for (int i = 0; i < n; ++i) {
    MPI_Status* st = nullptr;
    if (!done[i]) {
      if (all && statuses != MPI_STATUSES_IGNORE && ids[i] == 0) empty_status(&statuses[i]);
      continue;
    }
    VRequest* r = reinterpret_cast<VRequest*>(reqs[i]);
    const chan::WireStatus& w = wst[i];
    if (single || kind == chan::kWaitany || kind == chan::kTestany)
      st = statuses;
    else if (all)
      st = statuses == MPI_STATUSES_IGNORE ? nullptr : &statuses[i];
    else
      st = statuses == MPI_STATUSES_IGNORE ? nullptr : &statuses[k];
    if (indices) indices[k] = i;
    ++k;
    if (st) {
      st->MPI_SOURCE = w.source;
      st->MPI_TAG = w.tag;
      if (all || kind == chan::kWaitsome || kind == chan::kTestsome) st->MPI_ERROR = w.error;
      st->_cancelled = w.cancelled;
      st->_ucount = w.ucount;
    }
    if (r->kind == VRequest::kRecv && !w.cancelled) {
      finish(r->dst, w.ucount, ioff[i] >= 0 ? ioff[i] : -1);
      // Counted once: Request_get_status leaves the request for a later Wait.
      if (w.source != MPI_PROC_NULL && kind != chan::kGetStatus) r->comm->recvd++;
    } else if (r->kind == VRequest::kColl) {
      finish(r->dst, r->dst.wire.bytes, ioff[i] >= 0 ? ioff[i] : -1);
      if (r->after && kind != chan::kGetStatus) r->after();
    }
    if (kind == chan::kGetStatus) {
      // The request stays; its data are already in place. Remember the
      // status for the Wait/Test that will free it.
    } else if (r->persistent) {
      r->real = 0;
    } else {
      delete r;
      reqs[i] = MPI_REQUEST_NULL;
    }
    if (kind == chan::kWaitany || kind == chan::kTestany) *index = i;
  }
  if (kind == chan::kWaitany || kind == chan::kTestany) {
    if (k == 0) *index = MPI_UNDEFINED;
  }
  if (flag) *flag = static_cast<int>(m.a.complete.flag);
  if (kind == chan::kTestany && k == 0) *flag = 0;
  if (kind == chan::kTestall && *flag)  // the others completed: now the posted sends too
    for (int i : local)
      complete_local(i, statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i]);
  if (outcount) *outcount = k;
  if (polls) pace_note(key, k > 0 || (flag && *flag));
  return check_world(rc, fn);
}

}  // namespace crmpi

CRMPI_API int PMPI_Wait(MPI_Request* r, MPI_Status* st) {
  return complete_requests(chan::kWait, 1, r, nullptr, nullptr, nullptr, nullptr, st, CRMPI_NAME);
}
CRMPI_API int PMPI_Test(MPI_Request* r, int* flag, MPI_Status* st) {
  return complete_requests(chan::kTest, 1, r, nullptr, flag, nullptr, nullptr, st, CRMPI_NAME);
}
CRMPI_API int PMPI_Waitany(int n, MPI_Request* r, int* index, MPI_Status* st) {
  return complete_requests(chan::kWaitany, n, r, index, nullptr, nullptr, nullptr, st, CRMPI_NAME);
}
CRMPI_API int PMPI_Testany(int n, MPI_Request* r, int* index, int* flag, MPI_Status* st) {
  return complete_requests(chan::kTestany, n, r, index, flag, nullptr, nullptr, st, CRMPI_NAME);
}
CRMPI_API int PMPI_Waitall(int n, MPI_Request* r, MPI_Status* st) {
  return complete_requests(chan::kWaitall, n, r, nullptr, nullptr, nullptr, nullptr, st,
                           CRMPI_NAME);
}
CRMPI_API int PMPI_Testall(int n, MPI_Request* r, int* flag, MPI_Status* st) {
  return complete_requests(chan::kTestall, n, r, nullptr, flag, nullptr, nullptr, st, CRMPI_NAME);
}
CRMPI_API int PMPI_Waitsome(int n, MPI_Request* r, int* outcount, int* indices, MPI_Status* st) {
  return complete_requests(chan::kWaitsome, n, r, nullptr, nullptr, outcount, indices, st,
                           CRMPI_NAME);
}
CRMPI_API int PMPI_Testsome(int n, MPI_Request* r, int* outcount, int* indices, MPI_Status* st) {
  return complete_requests(chan::kTestsome, n, r, nullptr, nullptr, outcount, indices, st,
                           CRMPI_NAME);
}

CRMPI_API int PMPI_Cancel(MPI_Request* req) {
  Lock l;
  if (!is_virtual(*req, kMagicReq)) return check_world(MPI_ERR_REQUEST, CRMPI_NAME);
  VRequest* r = reinterpret_cast<VRequest*>(*req);
  if (!r->real) return MPI_SUCCESS;
  msg().a.request.request = r->real;
  return check_world(call(chan::kOpCancel), CRMPI_NAME);
}

CRMPI_API int PMPI_Test_cancelled(const MPI_Status* st, int* flag) {
  *flag = st->_cancelled;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Request_free(MPI_Request* req) {
  Lock l;
  if (!is_virtual(*req, kMagicReq)) return check_world(MPI_ERR_REQUEST, CRMPI_NAME);
  VRequest* r = reinterpret_cast<VRequest*>(*req);
  if (r->real) {
    msg().a.request.request = r->real;
    call(chan::kOpRequestFree);
    // The operation goes on: memory of ours that the agent or a peer still
    // reads (a packed rendezvous send) or writes (the packed buffer of a
    // receive with a derived type) must outlive the handle. Kept until
    // MPI_Finalize. (The unpacking of such a receive into the user's
    // buffer does not happen: documented in docs/status.md.)
    if (!r->packed.empty() || !r->dst.tmp.empty()) {
      g.freed_buffers.push_back(std::move(r->packed));
      g.freed_buffers.push_back(std::move(r->dst.tmp));
    }
  }
  delete r;
  *req = MPI_REQUEST_NULL;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Request_get_status(MPI_Request r, int* flag, MPI_Status* st) {
  return complete_requests(chan::kGetStatus, 1, &r, nullptr, flag, nullptr, nullptr, st,
                           CRMPI_NAME);
}
