// ckpt.cpp -- libcrpmpi's part in a job checkpoint: a libcr callback, as
// LAM/MPI's was on BLCR (seeds 000, 001, 003).  The agent starts it: once
// the job reached its collective safe point it sets the channel's `hold`
// and asks our libcr for a checkpoint; libcr runs this callback in its
// manager thread while the application runs.
//
// Algorithm (the driver):
//   1. Become the driver, the only thread in libcrpmpi: take the API lock
//      if no application thread holds it; else wait until the holder
//      parks.  Application threads park in begin() while `hold` is set
//      (before they describe a call), or at their next begin() after the
//      agent answered a blocking call kRcPaused (the wrapper makes it
//      again); a thread entering libcrpmpi waits in Lock.
//   2. CHECKPOINT: kOpCkptQuiesced -- the agent drains the job with the
//      coordinator and settles its requests; settle ours (each pending
//      request is now complete, or cancelled and marked for a re-post);
//      take the drained messages into g.drained; suspend the lower half
//      (unmap the channel: its fd is excluded from images).
//   3. cr_checkpoint(): libcr writes the image (nothing of MPI is in it).
//   4. CONTINUE: resume the same channel; RESTART: resume the new agent's
//      channel (same fd number), hello again, rebuild every communicator
//      from its members and every user op.  Then, both: kOpCkptResume,
//      re-post the cancelled receives in their posting order (drained
//      messages first), release the parked threads.
// A checkpoint the job abandons before step 3 skips the capture
// (CR_CHECKPOINT_TEMP_FAILURE) and goes on with step 4's common part.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "api.h"
#include "crmpi/crmpi_ext.h"
#include "libcr.h"

using namespace crmpi;

namespace crmpi {
namespace {

struct CkState {
  std::mutex mu;                   // `active` vs. a parked thread reading the channel
  std::atomic<uint32_t> active{0};  // a driver is at work
  std::atomic<uint32_t> parked{0};  // the holder of g.mu parked in begin()
  std::atomic<uint32_t> gen{0};     // bumped when a driver is done (futex word)
} ck;

thread_local bool tl_driver = false;
thread_local int tl_depth = 0;

void futex_wait_ms(std::atomic<uint32_t>* w, uint32_t v, long ms) {
  timespec t{ms / 1000, (ms % 1000) * 1000000};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT_PRIVATE, v, &t, nullptr, 0);
}
void futex_wake_all(std::atomic<uint32_t>* w) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
}

bool checkpoint_over() {
  std::lock_guard<std::mutex> l(ck.mu);
  return !ck.active.load() && !lower_half().hold();
}

// ---- 1. the driver

bool become_driver() {
  {
    std::lock_guard<std::mutex> l(ck.mu);
    ck.active.store(1);
  }
  bool own = false;
  for (;;) {
    if (g.mu.try_lock()) {
      own = true;
      break;
    }
    if (ck.parked.load()) break;
    futex_wait_ms(&ck.parked, 0, 1);
  }
  tl_driver = true;
  return own;
}

void release_driver(bool own) {
  tl_driver = false;
  if (own) g.mu.unlock();
  {
    std::lock_guard<std::mutex> l(ck.mu);
    ck.active.store(0);
  }
  ck.gen.fetch_add(1);
  futex_wake_all(&ck.gen);
}

// ---- 2. CHECKPOINT

VComm* comm_by_real(uint64_t real) {
  if (g.world.real == real) return &g.world;
  if (g.self.real == real) return &g.self;
  for (auto& [id, c] : g.comms)
    if (c->real == real) return c;
  return nullptr;
}

void take_drained(uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    Call& p = begin(chan::kOpCkptPeekMessage);
    if (execute(p) != MPI_SUCCESS) fatal("checkpoint: cannot read a drained message");
    Drained d;
    VComm* vc = comm_by_real(p.a.ckpt_msg.comm);
    if (!vc) fatal("checkpoint: a drained message for an unknown communicator");
    d.comm = vc->id;
    d.source = static_cast<int>(p.a.ckpt_msg.source);
    d.tag = static_cast<int>(p.a.ckpt_msg.tag);
    d.bytes.resize(p.a.ckpt_msg.bytes);
    Call& t = begin(chan::kOpCkptTakeMessage);
    t.dst = {reinterpret_cast<uint64_t>(d.bytes.data()), d.bytes.size(), 0, chan::kCma, 0};
    if (d.bytes.empty()) t.dst.mode = chan::kNone;
    if (execute(t) != MPI_SUCCESS) fatal("checkpoint: cannot take a drained message");
    g.drained.push_back(std::move(d));
  }
}

// Returns 0, or why the job abandoned the checkpoint.
int quiesce_and_drain() {
  Call& m = begin(chan::kOpCkptQuiesced);
  execute(m);
  uint64_t status = m.a.ckpt.status, messages = m.a.ckpt.messages;
  if (status) return static_cast<int>(status);
  std::vector<VRequest*> pending;
  for (VRequest* r : g.requests)
    if (r->real && !r->local_done) pending.push_back(r);
  for (VRequest* r : pending) settle_request(r);
  take_drained(messages);
  lower_half().suspend();
  return 0;
}

// ---- 4. CONTINUE / RESTART

void rebuild_comm(VComm* c) {
  Call& m = begin(chan::kOpCommRebuild);
  m.a.comm_rebuild.id = c->id;
  m.a.comm_rebuild.seq = c->coll_seq;
  m.a.comm_rebuild.size = c->world.size();
  m.a.comm_rebuild.remote_size = c->remote.size();  // an intercommunicator's other group
  memcpy(m.arena.at(0), c->world.data(), c->world.size() * sizeof(int));
  memcpy(m.arena.at(0) + c->world.size() * sizeof(int), c->remote.data(),
         c->remote.size() * sizeof(int));
  if (execute(m) != MPI_SUCCESS || !m.a.comm_out.comm)
    fatal("restart: cannot rebuild communicator %s (id %016llx)", c->name.c_str(),
          static_cast<unsigned long long>(c->id));
  c->real = m.a.comm_out.comm;
}

// Which of our communicators every member still holds (agent_drain.cpp
// op_comm_live); the others get no lower half (real 0): a member freed
// them before the capture, so they can only be freed (api_comm.cpp).
std::vector<bool> live_comms() {
  std::vector<bool> live;
  Call& m = begin(chan::kOpCommLive);
  auto* pairs = reinterpret_cast<uint64_t*>(m.arena.at(0));
  size_t i = 0;
  for (auto& [id, c] : g.comms) {
    pairs[2 * i] = id;
    pairs[2 * i + 1] = c->world.size() + c->remote.size();
    ++i;
  }
  m.a.comm_live.n = i;
  if (execute(m) != MPI_SUCCESS) fatal("restart: cannot agree on the live communicators");
  for (size_t k = 0; k < i; ++k) live.push_back(pairs[k] != 0);
  return live;
}

void rebuild() {
  rehello();
  rebuild_comm(&g.world);  // records their collective counts
  rebuild_comm(&g.self);
  std::vector<bool> live = live_comms();
  size_t k = 0;
  for (auto& [id, c] : g.comms) {  // increasing ids: the same order everywhere
    if (live[k++])
      rebuild_comm(c);
    else
      c->real = 0;
  }
  for (VOp* op : g.ops) {
    Call& m = begin(chan::kOpOpCreate);
    m.a.op_create.commute = static_cast<uint64_t>(op->commute);
    if (execute(m) != MPI_SUCCESS) fatal("restart: cannot rebuild a user reduction op");
    op->real = m.a.op.op;
  }
}

void repost() {
  std::vector<VRequest*> rs;
  for (VRequest* r : g.requests)
    if (r->repost) rs.push_back(r);
  std::sort(rs.begin(), rs.end(),
            [](const VRequest* a, const VRequest* b) { return a->post_seq < b->post_seq; });
  for (VRequest* r : rs) {
    r->repost = false;
    if (post_irecv(r, const_cast<void*>(r->pbuf), r->pcount, r->type, r->ppeer, r->ptag) !=
        MPI_SUCCESS)
      fatal("checkpoint: cannot post a pending receive again");
  }
}

void after_capture(bool restarted) {
  if (!lower_half().resume()) fatal("%s: cannot attach to the agent", restarted ? "restart" : "checkpoint");
  if (restarted) rebuild();
  Call& m = begin(chan::kOpCkptResume);
  execute(m);
  repost();
}

int callback(void*) {
  // Not in MPI (yet, or any more): a plain image, as any libcr process.
  if (g.finalized || (!g.initialized && !g.initializing)) return cr_checkpoint(CR_CHECKPOINT_READY);
  bool own = become_driver();           // inside MPI_Init: once it is done
  if (g.finalized || !g.initialized) {  // MPI_Finalize got in first, or MPI_Init failed
    release_driver(own);
    return cr_checkpoint(CR_CHECKPOINT_TEMP_FAILURE);
  }
  int why = quiesce_and_drain();
  if (why) {  // abandoned by the job: no image; the channel is still attached
    cr_checkpoint(CR_CHECKPOINT_TEMP_FAILURE);
    Call& m = begin(chan::kOpCkptResume);
    execute(m);
    repost();
  } else {
    int rc = cr_checkpoint(CR_CHECKPOINT_READY);
    after_capture(rc > 0);
  }
  release_driver(own);
  return 0;
}

}  // namespace

namespace {
void load_test_plan();
}

void ckpt_init() {
  static bool done = false;
  if (done) return;
  done = true;
  load_test_plan();
  if (cr_init() < 0 || cr_register_callback(callback, nullptr, CR_THREAD_CONTEXT) < 0)
    fprintf(stderr, "crmpi: cannot register the checkpoint callback with libcr: %s\n",
            strerror(errno));
  // cr_request_checkpoint(CR_SCOPE_JOB) asks the job, like crmpi_request_checkpoint().
  cr_set_job_request_handler(
      [](void*) { return crmpi_request_checkpoint() == MPI_SUCCESS ? 0 : CR_ENOSUPPORT; },
      nullptr);
}

// Test knob: $CRMPI_TEST_CKPT_CALLS="K1,K2,..." -- rank 0 asks for a job
// checkpoint when it starts its K-th call that needs the lower half, so that
// tests can checkpoint any program at many moments;
// $CRMPI_TEST_CKPT_AFTER=kill makes those checkpoints end the job.
namespace {
struct TestPlan {
  std::vector<long> at;
  uint64_t after = 0;
  long calls = 0;
  bool busy = false;
} g_plan;

void load_test_plan() {
  const char* v = getenv("CRMPI_TEST_CKPT_CALLS");
  for (const char* p = v; p && *p;) {
    char* end;
    long k = strtol(p, &end, 10);
    if (end == p) break;
    g_plan.at.push_back(k);
    p = *end ? end + 1 : end;
  }
  const char* a = getenv("CRMPI_TEST_CKPT_AFTER");
  g_plan.after = a && !strcmp(a, "kill") ? 3 : 0;
}

void test_plan_step() {
  if (g_plan.at.empty() || g_plan.busy || g.rank != 0 || !g.initialized || g.finalized) return;
  ++g_plan.calls;
  if (std::find(g_plan.at.begin(), g_plan.at.end(), g_plan.calls) == g_plan.at.end()) return;
  g_plan.busy = true;
  Call& m = lower_half().begin(chan::kOpCkptRequest);
  m.a.ckpt.after = g_plan.after;
  lower_half().execute(m);
  g_plan.busy = false;
}
}  // namespace

void ckpt_before_call() {
  if (!tl_driver) test_plan_step();
  if (tl_driver || !lower_half().hold()) return;
  ck.parked.store(1);
  futex_wake_all(&ck.parked);
  while (!checkpoint_over()) futex_wait_ms(&ck.gen, ck.gen.load(), 2);
  ck.parked.store(0);
}

}  // namespace crmpi

namespace {
thread_local char tl_me;
}

void ApiMutex::lock() {
  if (owner_.load(std::memory_order_relaxed) == &tl_me) {
    ++depth_;
    return;
  }
  for (;;) {
    uint32_t w = word_.load();
    const void* none = nullptr;
    if (owner_.compare_exchange_strong(none, &tl_me)) break;
    waiters_.fetch_add(1);
    if (owner_.load() != nullptr) futex_wait_ms(&word_, w, 50);
    waiters_.fetch_sub(1);
  }
  depth_ = 1;
}

bool ApiMutex::try_lock() {
  const void* none = nullptr;
  if (owner_.load(std::memory_order_relaxed) == &tl_me) {
    ++depth_;
    return true;
  }
  if (!owner_.compare_exchange_strong(none, &tl_me)) return false;
  depth_ = 1;
  return true;
}

void ApiMutex::unlock() {
  if (--depth_ > 0) return;
  owner_.store(nullptr);
  word_.fetch_add(1);
  if (waiters_.load()) futex_wake_all(&word_);
}

Lock::Lock() {
  if (tl_driver) return;
  if (tl_depth == 0)
    while (ck.active.load()) futex_wait_ms(&ck.gen, ck.gen.load(), 2);
  g.mu.lock();
  ++tl_depth;
  held_ = true;
}

Lock::~Lock() {
  if (!held_) return;
  if (tl_depth == 1 && !g.dead_comms.empty()) reap_comms();
  --tl_depth;
  g.mu.unlock();
}

VRequest::VRequest() {
  g.requests.insert(this);
}

VRequest::~VRequest() {
  g.requests.erase(this);
  if (op) op_release(op);
  if (comm && --comm->requests == 0 && comm->freed) g.dead_comms.push_back(comm);
}
