// MPI family: requests. Wait/test any/all/some, cancel, free, test_cancelled.
//
// Algorithm: one kOpComplete call carries the lower-half ids of all active
// requests (0 for null/inactive ones), the agent runs the real MPI_Wait*/
// MPI_Test* and returns, per completed request, its status and where its
// received bytes are (inline in the reply, or already written by CMA). The
// app then unpacks, counts receives, and frees or deactivates the handles.
#include <sched.h>
#include <time.h>

#include <algorithm>
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

void TypeRef::hold(MPI_Datatype t) {
  VType* n = is_virtual(t, kMagicType) ? reinterpret_cast<VType*>(t) : nullptr;
  if (n == v_) return;  // a persistent request, started again
  if (n) ++n->refs;
  reset();
  v_ = n;
}

void TypeRef::reset() {
  if (!v_) return;
  VType* v = v_;
  v_ = nullptr;
  type_release(v);  // frees it if MPI_Type_free came first
}

VRequest* new_request(VRequest::Kind k, VComm* c) {
  auto* r = new VRequest;
  r->kind = k;
  r->comm = c;
  if (c) ++c->requests;
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

namespace {

// One Wait/Test family call as the app made it, and what the lower half is
// asked about: ids[i] is request i's lower-half id (0: null, inactive, or
// complete locally), in the call's arena.
struct Completion {
  int kind, n;
  MPI_Request* reqs;
  int *index, *flag, *outcount, *indices;
  MPI_Status* statuses;
  uint64_t* ids;
  std::vector<int> local;  // posted sends: complete without the lower half
  int active = 0;          // requests the lower half must complete
  int pending_greq = 0;    // generalized requests not complete yet
  int err = MPI_SUCCESS;   // from generalized requests' callbacks
  // Waitall: requests completed here before a job checkpoint paused the
  // call (now null), whose statuses are final.
  std::vector<int> settled;
  // Whether request i's status is final already (Waitall's local ones).
  bool final_status(int i) const {
    return std::find(local.begin(), local.end(), i) != local.end() ||
           std::find(settled.begin(), settled.end(), i) != settled.end();
  }
  bool single() const {
    return kind == chan::kWait || kind == chan::kTest || kind == chan::kGetStatus;
  }
  bool any() const { return kind == chan::kWaitany || kind == chan::kTestany; }
  bool all() const { return kind == chan::kWaitall || kind == chan::kTestall; }
  bool some() const { return kind == chan::kWaitsome || kind == chan::kTestsome; }
  bool polls() const {
    return kind == chan::kTest || kind == chan::kTestany || kind == chan::kTestsome ||
           kind == chan::kTestall;
  }
  // Status slot of request i for the *all forms (nullptr or MPI_STATUS_IGNORE when ignored).
  MPI_Status* status_of(int i) const {
    return statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i];
  }
};

// MPI_Comm_idup's communicator gets its lower half when the request
// completes (api_comm.cpp).
void adopt_made(VRequest* r, const chan::WireStatus& w) {
  if (r->made && w.made && !r->made->real) r->made->real = w.made;
}

void collect_ids(Completion& c) {
  for (int i = 0; i < c.n; ++i) {
    VRequest* r =
        is_virtual(c.reqs[i], kMagicReq) ? reinterpret_cast<VRequest*>(c.reqs[i]) : nullptr;
    if (r && r->local_done) c.local.push_back(i);
    if (r && r->greq && !r->greq->complete) c.pending_greq++;
    c.ids[i] = r && !r->local_done ? r->real : 0;
    c.active += c.ids[i] != 0;
  }
}

// A complete generalized request (MPI-3.1 12.2): its status from query_fn,
// then (unless MPI_Request_get_status) free_fn and the handle.  Their
// errors are the call's.
void complete_greq(Completion& c, int i, MPI_Status* st) {
  auto* r = reinterpret_cast<VRequest*>(c.reqs[i]);
  GReq* q = r->greq;
  MPI_Status tmp{};
  MPI_Status* s = st == MPI_STATUS_IGNORE ? &tmp : st;
  int err = s->MPI_ERROR;
  empty_status(s);
  int rc = q->query(q->extra, s);
  if (c.kind != chan::kGetStatus) {
    int frc = q->free(q->extra);
    if (rc == MPI_SUCCESS) rc = frc;
    delete q;
    delete r;
    c.reqs[i] = MPI_REQUEST_NULL;
  }
  if (c.single() || c.any()) {
    s->MPI_ERROR = err;
    if (rc != MPI_SUCCESS) c.err = rc;
  } else if (rc != MPI_SUCCESS) {
    s->MPI_ERROR = rc;
    c.err = MPI_ERR_IN_STATUS;
  }
}

// A request complete without the lower half: a posted send (empty
// status), or one a checkpoint settled or a drained message completed (its
// status), or a generalized request.  Persistent ones become inactive.
void complete_local(Completion& c, int i, MPI_Status* st) {
  auto* r = reinterpret_cast<VRequest*>(c.reqs[i]);
  if (r->greq) return complete_greq(c, i, st);
  if (r->has_status && st != MPI_STATUS_IGNORE) {
    int err = st->MPI_ERROR;  // MPI_ERROR is set only by the *all/*some forms
    *st = r->done_status;
    if (c.single() || c.any()) st->MPI_ERROR = err;
  } else {
    empty_status(st);
  }
  if (c.kind == chan::kGetStatus) return;
  if (r->persistent) {
    r->local_done = r->has_status = false;
    r->real = 0;
    return;
  }
  delete r;
  c.reqs[i] = MPI_REQUEST_NULL;
}

// Algorithm (locally complete requests): Wait/Test/any/some return them
// without asking the lower half; Waitall completes them and asks only about
// the others; Testall frees them only if the lower half reports all others
// complete (all or nothing). Returns true if the call is answered.
bool answer_local(Completion& c) {
  if (c.local.empty()) return false;
  if (!c.all()) {
    if (c.single() || c.any()) {
      complete_local(c, c.local[0], c.statuses);
      if (c.index) *c.index = c.local[0];
      if (c.flag) *c.flag = 1;
    } else {  // waitsome / testsome
      for (size_t k = 0; k < c.local.size(); ++k) {
        c.indices[k] = c.local[k];
        complete_local(c, c.local[k], c.status_of(static_cast<int>(k)));
      }
      *c.outcount = static_cast<int>(c.local.size());
    }
    return true;
  }
  if (c.kind == chan::kWaitall) {  // (c.local now lists completed ones: read_reply skips them)
    for (int i : c.local) complete_local(c, i, c.status_of(i));
    return false;
  }
  if (c.active) return false;
  for (int i : c.local) complete_local(c, i, c.status_of(i));  // testall, only posted sends
  if (c.flag) *c.flag = 1;
  return true;
}

// The standard's answers for lists with no active request.
void answer_all_null(const Completion& c) {
  if (c.pending_greq) {  // not null: generalized requests not complete yet
    if (c.flag) *c.flag = 0;
    if (c.index) *c.index = MPI_UNDEFINED;
    if (c.outcount) *c.outcount = 0;
    return;
  }
  if (c.single()) {
    empty_status(c.statuses);
    if (c.flag) *c.flag = 1;
  } else if (c.any()) {
    *c.index = MPI_UNDEFINED;
    if (c.flag) *c.flag = 1;
    empty_status(c.statuses);
  } else if (c.all()) {
    if (c.flag) *c.flag = 1;
    if (c.statuses != MPI_STATUSES_IGNORE)
      for (int i = 0; i < c.n; ++i)  // (Waitall's local completions have their status)
        if (!c.final_status(i)) empty_status(&c.statuses[i]);
  } else {
    *c.outcount = MPI_UNDEFINED;
  }
}

// Paced polling: the key of this poll, or 0 for a wait.
uint64_t poll_key(const Completion& c) {
  if (!c.polls()) return 0;
  uint64_t key = 0x9e3779b97f4a7c15ull * (c.kind + 1);
  for (int i = 0; i < c.n; ++i) key = (key ^ c.ids[i]) * 0x100000001b3ull;
  return key;
}

void answer_not_yet(const Completion& c) {
  if (c.flag) *c.flag = 0;
  if (c.index) *c.index = MPI_UNDEFINED;
  if (c.outcount) *c.outcount = 0;
}

// Status, data and fate of request i, which the lower half completed
// (w: its status; ioff: where its data are in the arena, or -1).
void take_completed(const Completion& c, const Call& m, int i, MPI_Status* st,
                    const chan::WireStatus& w, int64_t ioff) {
  VRequest* r = reinterpret_cast<VRequest*>(c.reqs[i]);
  if (st) {
    st->MPI_SOURCE = w.source;
    st->MPI_TAG = w.tag;
    if (c.all() || c.some()) st->MPI_ERROR = w.error;
    st->_cancelled = w.cancelled;
    st->_ucount = w.ucount;
  }
  if (r->kind == VRequest::kRecv && !w.cancelled) {
    finish(r->dst, w.ucount, m.arena, ioff >= 0 ? ioff : -1);
    // Counted once: Request_get_status leaves the request for a later Wait.
    if (w.source != MPI_PROC_NULL && c.kind != chan::kGetStatus) r->comm->recvd++;
  } else if (r->kind == VRequest::kColl) {
    finish(r->dst, r->dst.wire.bytes, m.arena, ioff >= 0 ? ioff : -1);
    if (r->after && c.kind != chan::kGetStatus) r->after();
    adopt_made(r, w);
  }
  if (c.kind == chan::kGetStatus) {
    // The request stays; its data are already in place. Remember the
    // status for the Wait/Test that will free it.
  } else if (r->persistent) {
    r->real = 0;
  } else {
    delete r;
    c.reqs[i] = MPI_REQUEST_NULL;
  }
}

// Read the lower half's reply (layout: ids[n], status[n], inline offsets[n],
// done flags[n]). Returns how many requests completed.
int read_reply(const Completion& c, const Call& m) {
  auto* wst = reinterpret_cast<const chan::WireStatus*>(c.ids + c.n);
  auto* ioff = reinterpret_cast<const int64_t*>(wst + c.n);
  auto* done = reinterpret_cast<const uint8_t*>(ioff + c.n);
  int k = 0;
  for (int i = 0; i < c.n; ++i) {
    if (!done[i]) {
      if (c.all() && c.statuses != MPI_STATUSES_IGNORE && c.ids[i] == 0 && !c.final_status(i))
        empty_status(&c.statuses[i]);
      continue;
    }
    MPI_Status* st;
    if (c.single() || c.any())
      st = c.statuses;
    else
      st = c.statuses == MPI_STATUSES_IGNORE ? nullptr : &c.statuses[c.all() ? i : k];
    if (c.indices) c.indices[k] = i;
    ++k;
    take_completed(c, m, i, st, wst[i], ioff[i]);
    if (c.any()) *c.index = i;
  }
  return k;
}

// The call's flag, index and count; Testall's posted sends complete with
// the others.
void answer_counts(Completion& c, const Call& m, int k) {
  if (c.any() && k == 0) *c.index = MPI_UNDEFINED;
  if (c.flag) *c.flag = static_cast<int>(m.a.complete.flag);
  if (c.kind == chan::kTestany && k == 0) *c.flag = 0;
  if (c.kind == chan::kTestall && *c.flag)
    for (int i : c.local) complete_local(c, i, c.status_of(i));
  if (c.outcount) *c.outcount = k;
}

}  // namespace

void settle_request(VRequest* r) {
  Call& m = begin(chan::kOpComplete);
  auto* ids = reinterpret_cast<uint64_t*>(m.arena.at(0));
  ids[0] = r->real;
  m.a.complete.kind = chan::kTest;
  m.a.complete.n = 1;
  int rc = execute(m);
  auto* wst = reinterpret_cast<const chan::WireStatus*>(ids + 1);
  auto* ioff = reinterpret_cast<const int64_t*>(wst + 1);
  auto* done = reinterpret_cast<const uint8_t*>(ioff + 1);
  if (!done[0]) fatal("checkpoint: a request is still pending after the drain");
  const chan::WireStatus w = wst[0];
  r->real = 0;
  if (w.cancelled && r->kind == VRequest::kRecv) {  // posted again after the capture
    r->repost = true;
    return;
  }
  if (r->kind == VRequest::kRecv) {
    finish(r->dst, w.ucount, m.arena, ioff[0] >= 0 ? ioff[0] : -1);
    if (w.source != MPI_PROC_NULL) r->comm->recvd++;
  } else if (r->kind == VRequest::kColl) {
    finish(r->dst, r->dst.wire.bytes, m.arena, ioff[0] >= 0 ? ioff[0] : -1);
    if (r->after) r->after();
    adopt_made(r, w);
  }
  r->local_done = r->has_status = true;
  r->done_status = {};
  r->done_status.MPI_SOURCE = w.source;
  r->done_status.MPI_TAG = w.tag;
  r->done_status.MPI_ERROR = rc != MPI_SUCCESS ? rc : w.error;
  r->done_status._cancelled = w.cancelled;
  r->done_status._ucount = w.ucount;
}

namespace {

int complete_locked(int kind, int n, MPI_Request* reqs, int* index, int* flag, int* outcount,
                    int* indices, MPI_Status* statuses, const char* fn,
                    std::vector<int> settled = {}) {
  Lock l;
  Call& m = begin(chan::kOpComplete);
  Completion c{kind,    n,        reqs,
               index,   flag,     outcount,
               indices, statuses, reinterpret_cast<uint64_t*>(m.arena.at(0))};
  c.settled = std::move(settled);
  collect_ids(c);
  if (c.pending_greq && kind == chan::kTestall) {  // all or nothing
    answer_not_yet(c);
    return MPI_SUCCESS;
  }
  if (answer_local(c)) return check_world(c.err, fn);
  if (!c.active) {
    answer_all_null(c);
    return check_world(c.err, fn);
  }
  uint64_t key = poll_key(c);
  if (c.polls() && pace_skip(key)) {  // "not yet", without the lower half
    answer_not_yet(c);
    return MPI_SUCCESS;
  }
  m.a.complete.kind = static_cast<uint64_t>(kind);
  m.a.complete.n = static_cast<uint64_t>(n);
  int rc = c.polls() ? poll_execute(m) : execute(m);
  // A Wait* a job checkpoint paused completed nothing: make it again (the
  // checkpoint may have completed some of the requests locally meanwhile).
  if (rc == chan::kRcPaused) {
    c.settled.insert(c.settled.end(), c.local.begin(), c.local.end());
    return complete_locked(kind, n, reqs, index, flag, outcount, indices, statuses, fn,
                           std::move(c.settled));
  }
  int k = read_reply(c, m);
  answer_counts(c, m, k);
  if (c.polls()) pace_note(key, k > 0 || (flag && *flag));
  return check_world(rc != MPI_SUCCESS ? rc : c.err, fn);
}

bool has_pending_greq(int n, const MPI_Request* reqs) {
  for (int i = 0; i < n; ++i)
    if (is_virtual(reqs[i], kMagicReq)) {
      const GReq* q = reinterpret_cast<const VRequest*>(reqs[i])->greq;
      if (q && !q->complete) return true;
    }
  return false;
}

}  // namespace

// Algorithm (waiting for generalized requests): they complete when some
// thread calls MPI_Grequest_complete, which needs the API lock; so a Wait*
// on a list holding one that is not complete yet runs as its Test* form in a
// loop, the lock released between tests.
int complete_requests(int kind, int n, MPI_Request* reqs, int* index, int* flag, int* outcount,
                      int* indices, MPI_Status* statuses, const char* fn) {
  bool wait = kind == chan::kWait || kind == chan::kWaitany || kind == chan::kWaitall ||
              kind == chan::kWaitsome;
  if (!wait || !has_pending_greq(n, reqs))
    return complete_locked(kind, n, reqs, index, flag, outcount, indices, statuses, fn);
  int test = kind == chan::kWait      ? chan::kTest
             : kind == chan::kWaitany ? chan::kTestany
             : kind == chan::kWaitall ? chan::kTestall
                                      : chan::kTestsome;
  for (;;) {
    int done = 0, outc = 0;
    int rc = complete_locked(test, n, reqs, index, test == chan::kTestsome ? nullptr : &done,
                             test == chan::kTestsome ? &outc : nullptr, indices, statuses, fn);
    if (test == chan::kTestsome) {
      done = outc != 0;
      *outcount = outc;
    }
    if (done || rc != MPI_SUCCESS) return rc;
    sched_yield();
  }
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
  if (r->greq)  // the user's cancel_fn, told whether the request is complete
    return check_world(r->greq->cancel(r->greq->extra, r->greq->complete), CRMPI_NAME);
  if (!r->real) return MPI_SUCCESS;
  Call& m = begin(chan::kOpCancel);
  m.a.request.request = r->real;
  return check_world(execute(m), CRMPI_NAME);
}

CRMPI_API int PMPI_Test_cancelled(const MPI_Status* st, int* flag) {
  *flag = st->_cancelled;
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Request_free(MPI_Request* req) {
  Lock l;
  if (!is_virtual(*req, kMagicReq)) return check_world(MPI_ERR_REQUEST, CRMPI_NAME);
  VRequest* r = reinterpret_cast<VRequest*>(*req);
  if (r->greq) {  // free_fn runs now if complete, else at MPI_Grequest_complete
    *req = MPI_REQUEST_NULL;
    if (!r->greq->complete) {
      r->greq->user_freed = true;
      return MPI_SUCCESS;
    }
    int rc = r->greq->free(r->greq->extra);
    delete r->greq;
    delete r;
    return check_world(rc, CRMPI_NAME);
  }
  if (r->real) {
    Call& m = begin(chan::kOpRequestFree);
    m.a.request.request = r->real;
    execute(m);
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

// ---------------------------------------------------------------- generalized requests

CRMPI_API int PMPI_Grequest_start(MPI_Grequest_query_function* query,
                                  MPI_Grequest_free_function* free_fn,
                                  MPI_Grequest_cancel_function* cancel, void* extra,
                                  MPI_Request* req) {
  Lock l;
  VRequest* r = new_request(VRequest::kDone, &g.self);
  r->greq = new GReq{query, free_fn, cancel, extra};
  *req = reinterpret_cast<MPI_Request>(r);
  return MPI_SUCCESS;
}

CRMPI_API int PMPI_Grequest_complete(MPI_Request req) {
  Lock l;
  if (!is_virtual(req, kMagicReq) || !reinterpret_cast<VRequest*>(req)->greq)
    return check_world(MPI_ERR_REQUEST, CRMPI_NAME);
  VRequest* r = reinterpret_cast<VRequest*>(req);
  r->greq->complete = true;
  r->local_done = true;  // Wait/Test now answer it (query_fn, free_fn)
  if (!r->greq->user_freed) return MPI_SUCCESS;
  int rc = r->greq->free(r->greq->extra);  // MPI_Request_free came first
  delete r->greq;
  delete r;
  return check_world(rc, CRMPI_NAME);
}
