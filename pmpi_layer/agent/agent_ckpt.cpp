// agent_ckpt.cpp -- one rank's stages of a job checkpoint, as the agent
// sees them (the protocol: include/crmpi/coord_protocol.h; the narrative:
// docs/protocol.md, "Job checkpoint").
//
// Algorithm (stages of epoch e, the agent's view):
//   Idle       serve the app.
//   SafePoint  Intent(e) came: report (comm id, collectives entered) for
//              every communicator; then, on each Targets, again, with
//              `ready` when no collective runs and every count equals its
//              target.  A rank at its targets everywhere holds a collective
//              that would pass one (enter_collective waits); a rank behind
//              somewhere runs on, even past a target elsewhere (then the
//              targets rise); each collective that completes is reported,
//              and one entered past its target is at once (its members
//              parked at the target wait for the rise).
//              A group collective (create_group, intercomm_create) cannot
//              be paused and its members may be parked elsewhere: a rank
//              parks before it like before any collective, and once inside
//              reports so (not ready); the coordinator then sends Targets
//              with hold 0 -- no rank parks -- until nobody is inside one;
//              a rank out of one holds again at once (left_collective).
//   Quiesce    Quiesce(e) came: the channel's `hold` asks app threads to
//              start no call; a blocking call in progress is paused (its
//              wait returns, the app is answered kRcPaused and makes it
//              again later); the app's libcr is asked for a checkpoint
//              (the image fd is an O_TMPFILE in the job's folder), whose
//              thread-context callback -- libcrpmpi's driver -- calls
//              kOpCkptQuiesced once no app thread is inside MPI.
//   Drain      inside that call: Quiesced(e); DrainStep rounds (receive
//              everything into the stash, report counts) until DrainDone;
//              then settle every request and answer the driver, which
//              takes the stash, detaches, and lets libcr write the image.
//   Captured   libcr's Written reply -> Written(e); Link(e) -> the image
//              gets its name; Commit(e) -> libcr's commit (after-action).
// Abort(e) at any stage: the libcr request is dropped (its O_TMPFILE with
// it), `hold` is cleared, held calls go on, and the app carries on.
#include "agent_ckpt.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "control.h"
#include "crmpi/coord_client.h"
#include "crmpi/coord_protocol.h"
#include "crmpi/procstat.h"

namespace crmpi::agent::ckpt {

using namespace internal;
namespace coord = crmpi::coord;

uint64_t g_sent = 0, g_received = 0;

namespace {

enum class Stage { kIdle, kSafePoint, kQuiesce, kDrain, kCaptured };

struct CommInfo {
  uint64_t id = 0, seq = 0;
  // A one-member intracommunicator (MPI_COMM_SELF, or made from it): its
  // collectives wait for nobody, and its id may be every rank's (self is 2
  // everywhere), so it takes no part in the safe point.
  bool solo = false;
};

struct Epoch {
  uint32_t id = 0;
  Stage stage = Stage::kIdle;
  std::unordered_map<uint64_t, uint64_t> targets;
  uint32_t round = 0;
  bool have_targets = false;
  bool hold = true;  // the last Targets' hold (coord::Targets)
  std::string dir, image_name;
  uint32_t after = 0;  // coord::After
  int image_fd = -1;
  int libcr = -1;  // our request's connection to the app's libcr
  bool drain_done = false, aborted = false;
};

coord::AgentLink g_link;
bool g_enabled = false;
bool g_rebuilding = false;  // restored, and the app has not resumed yet
bool g_ending = false;      // a committed checkpoint ends the job (--kill/--term)
bool g_finishing = false;   // the app is leaving MPI (finalize_meet done)
uint32_t g_requests = 0;    // our kRequests the coordinator has not answered yet
Epoch g_ep;
std::unordered_map<MPI_Comm, CommInfo> g_comms;
std::set<uint64_t> g_coming;  // ids of MPI_Comm_idup communicators not complete here yet
bool g_in_collective = false;
bool g_in_group_collective = false;  // enter_group_collective() .. left_collective()

// The event thread: wakes the main thread (ring) when the coordinator or
// the app's libcr has something for it; re-armed by poll().
std::atomic<uint32_t> g_event{0};
std::atomic<uint32_t> g_armed{1};
std::atomic<int> g_libcr_fd{-1};
int g_wake_fd = -1;  // eventfd: the watched set changed

void futex_wake(std::atomic<uint32_t>* w) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}
void futex_wait(std::atomic<uint32_t>* w, uint32_t v) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT_PRIVATE, v, nullptr, nullptr, 0);
}

void event_thread() {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  for (;;) {
    while (g_armed.load() == 0) futex_wait(&g_armed, 0);
    pollfd pf[3] = {{g_link.fd(), POLLIN, 0}, {g_wake_fd, POLLIN, 0}, {g_libcr_fd.load(), POLLIN, 0}};
    int n = pf[2].fd >= 0 ? 3 : 2;
    if (::poll(pf, n, -1) <= 0) continue;
    if (pf[1].revents) {
      uint64_t v;
      (void)!read(g_wake_fd, &v, sizeof v);
    }
    if (pf[0].revents || (n == 3 && pf[2].revents)) {
      g_armed.store(0);
      g_event.store(1);
      chan::ring(g_sh->req_seq, g_sh->agent_sleeping);
    }
  }
}

void rewatch() {
  uint64_t one = 1;
  (void)!write(g_wake_fd, &one, sizeof one);
}

void send(coord::Type t, const void* body, size_t n) {
  if (!g_link.send(t, g_ep.id, body, n))
    fprintf(stderr, "crmpi: rank %d: lost the coordinator: %s\n", g_rank, g_link.error());
}

void fail(int err, const std::string& what) {
  coord::Failed f{};
  f.error = err;
  snprintf(f.text, sizeof f.text, "%s", what.c_str());
  send(coord::kFailed, &f, sizeof f);
}

// The app called MPI_Finalize: this rank cannot take part any more.
void fail_finished() {
  fail(ESRCH, "rank " + std::to_string(g_rank) +
                  " has finished (MPI_Finalize): too late for a checkpoint");
}

uint64_t target_of(const CommInfo& c) {
  auto it = g_ep.targets.find(c.id);
  return it == g_ep.targets.end() ? c.seq : it->second;
}

// Some communicator of ours has fewer collectives than its target.
bool behind() {
  for (const auto& kv : g_comms)
    if (!kv.second.solo && kv.second.seq < target_of(kv.second)) return true;
  for (uint64_t id : g_coming)
    if (target_of(CommInfo{id, 0}) > 0) return true;
  return false;
}

void send_seqs() {
  // Before the app's hello its libcr has no checkpoint callback (or MPI_Init
  // is not over): it could only write a plain image.  Not ready until then.
  bool ready = !g_in_collective && app_initialized();
  std::vector<char> body(sizeof(coord::Seqs) +
                         (g_comms.size() + g_coming.size()) * sizeof(coord::CommSeq));  // at most
  auto* list = reinterpret_cast<coord::CommSeq*>(body.data() + sizeof(coord::Seqs));
  size_t k = 0;
  auto report = [&](const CommInfo& info) {
    list[k++] = {info.id, info.seq};
    if (g_ep.have_targets && info.seq != target_of(info)) ready = false;
  };
  for (const auto& [c, info] : g_comms)
    if (!info.solo) report(info);
  for (uint64_t id : g_coming) report(CommInfo{id, 0});
  body.resize(sizeof(coord::Seqs) + k * sizeof(coord::CommSeq));
  coord::Seqs s{static_cast<uint32_t>(k), ready ? 1u : 0u, g_ep.round,
                g_in_group_collective ? 1u : 0u};
  memcpy(body.data(), &s, sizeof s);
  send(coord::kSeqs, body.data(), body.size());
}

// ---- the app's libcr: our request for its checkpoint (two-phase commit)

void drop_request() {
  if (g_ep.libcr >= 0) close(g_ep.libcr);
  if (g_ep.image_fd >= 0) close(g_ep.image_fd);
  g_ep.libcr = g_ep.image_fd = -1;
  g_libcr_fd.store(-1);
  rewatch();
}

int request_capture() {
  g_ep.image_fd = open(g_ep.dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (g_ep.image_fd < 0) return errno;
  crctl::ProcIds ids;
  if (int rc = crctl::read_proc_ids(g_app, &ids)) return -rc;
  crctl::ConnectProblem why;
  int s = crctl::connect_target(g_app, ids, &why);
  if (s < 0) return -s;
  // With stop/kill libcr keeps the app stopped from its capture until our
  // commit, and then applies the signal: it never runs past its image.
  int sig = g_ep.after == coord::kAfterKill   ? SIGKILL
            : g_ep.after == coord::kAfterStop ? SIGSTOP
            : g_ep.after == coord::kAfterTerm ? SIGTERM
                                              : 0;
  crctl::WireRequest req{crctl::kRequestMagic, crctl::kWireVersion, 0, sig, 0,
                         crctl::kRequestCommit};
  if (int rc = crctl::send_request(s, req, g_ep.image_fd)) {
    close(s);
    return -rc;
  }
  g_ep.libcr = s;
  g_libcr_fd.store(s);
  rewatch();
  return 0;
}

// The application has exited or died (gone, or a zombie not reaped yet).
bool app_gone() {
  char line[512];
  return !procstat::read(g_app, line, sizeof line) || procstat::state(line) == 'Z';
}

void on_libcr_reply() {
  crctl::WireReply r{};
  ssize_t n = recv(g_ep.libcr, &r, sizeof r, MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN) return;
  if (n != static_cast<ssize_t>(sizeof r) || r.magic != crctl::kReplyMagic) {
    if (g_ep.stage != Stage::kIdle)
      fail(EPROTO, app_gone() ? "the application died during the checkpoint"
                              : "the application's libcr closed the request");
    drop_request();
    return;
  }
  if (r.status != 0) {
    fail(r.status, std::string("the application's image could not be written: ") +
                       crctl::error_text(r.status));
    drop_request();
    return;
  }
  if (r.phase == crctl::kPhaseWritten) {
    coord::Written w{r.image_bytes, r.image_digest};
    send(coord::kWritten, &w, sizeof w);
  }
}

// ---- coordinator messages

void on_intent(const coord::Intent& in) {
  if (g_finishing) {
    g_ep.stage = Stage::kIdle;
    return fail_finished();
  }
  if (g_ep.stage != Stage::kIdle) drop_request();
  uint32_t id = g_ep.id;
  g_ep = Epoch{};
  g_ep.id = id;
  g_ep.stage = Stage::kSafePoint;
  g_ep.dir.assign(in.dir, strnlen(in.dir, sizeof in.dir));
  g_ep.image_name.assign(in.image_name, strnlen(in.image_name, sizeof in.image_name));
  g_ep.after = in.after;
  send_seqs();
}

void on_targets(const std::vector<char>& body) {
  coord::Targets t;
  if (body.size() < sizeof t) return fail(EPROTO, "short Targets message");
  memcpy(&t, body.data(), sizeof t);
  if (body.size() != sizeof t + size_t{t.count} * sizeof(coord::CommSeq))
    return fail(EPROTO, "Targets message of the wrong size");
  auto* list = reinterpret_cast<const coord::CommSeq*>(body.data() + sizeof t);
  g_ep.targets.clear();
  for (uint32_t i = 0; i < t.count; ++i) g_ep.targets[list[i].comm_id] = list[i].seq;
  g_ep.round = t.round;
  g_ep.hold = t.hold != 0;
  g_ep.have_targets = true;
  send_seqs();
}

void on_quiesce() {
  // Past MPI_Finalize this rank already answered Failed (finishing()); a
  // Quiesce that crossed it must not make the application write an image.
  if (g_finishing) return;
  // The coordinator quiesces only when every rank said ready in a hold
  // round, and a ready rank enters no group collective: this cannot
  // happen -- but if it did, the image would wait for a call that cannot
  // pause.  Fail this checkpoint rather than stall it to its timeout.
  if (g_in_group_collective)
    return fail(EAGAIN, "rank " + std::to_string(g_rank) +
                            " is inside MPI_Comm_create_group or MPI_Intercomm_create");
  g_ep.stage = Stage::kQuiesce;
  g_sh->hold.store(1);
  if (int rc = request_capture()) {
    fail(rc, std::string("cannot ask the application for its checkpoint: ") + strerror(rc));
    drop_request();
  }
}

void on_link() {
  std::string path = g_ep.dir + "/" + g_ep.image_name;
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", g_ep.image_fd);
  if (g_ep.image_fd < 0 ||
      linkat(AT_FDCWD, proc, AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0 ||
      fsync(g_ep.image_fd) != 0)
    return fail(errno, "cannot name the image " + path + ": " + strerror(errno));
  coord::Linked l{};
  send(coord::kLinked, &l, sizeof l);
}

void on_commit(const coord::Commit& c) {
  if (g_ep.libcr >= 0) {
    crctl::WireCommit w{crctl::kCommitMagic, 1};
    (void)!::send(g_ep.libcr, &w, sizeof w, MSG_NOSIGNAL);
    pollfd pf{g_ep.libcr, POLLIN, 0};  // libcr acks the commit
    if (::poll(&pf, 1, 5000) == 1) {
      crctl::WireReply r;
      (void)!recv(g_ep.libcr, &r, sizeof r, 0);
    }
  }
  drop_request();
  g_ep.stage = Stage::kIdle;
  // The job ends with this checkpoint: the app dies of its after-signal;
  // the agent then finishes quietly (ending()).
  if (c.after == coord::kAfterKill || c.after == coord::kAfterTerm) g_ending = true;
}

void on_abort() {
  drop_request();
  g_ep.aborted = true;
  g_ep.stage = Stage::kIdle;
  g_sh->hold.store(0);
}

void handle(const coord::Frame& f, const std::vector<char>& body) {
  auto as = [&](auto& out) {
    if (body.size() != sizeof out) return false;
    memcpy(&out, body.data(), sizeof out);
    return true;
  };
  if (f.type == coord::kIntent) {
    coord::Intent in;
    if (!as(in)) return fail(EPROTO, "bad Intent message");
    g_ep.id = f.epoch;
    return on_intent(in);
  }
  if (f.type == coord::kRequestDone) {  // of whichever epoch, or none
    if (g_requests) --g_requests;
    return;
  }
  if (f.epoch != g_ep.id) return;  // a late message of an abandoned epoch
  switch (f.type) {
    case coord::kTargets:
      return on_targets(body);
    case coord::kQuiesce:
      return on_quiesce();
    case coord::kDrainStep: {
      if (int rc = drain_step())
        return fail(rc, std::string("drain: cannot copy a message from its sender: ") +
                            strerror(rc));
      coord::Counts c{g_sent, g_received};
      return send(coord::kCounts, &c, sizeof c);
    }
    case coord::kDrainDone:
      g_ep.drain_done = true;
      return;
    case coord::kLink:
      return on_link();
    case coord::kCommit: {
      coord::Commit c{};
      if (!as(c)) return fail(EPROTO, "bad Commit message");
      return on_commit(c);
    }
    case coord::kAbort:
      return on_abort();
    default:
      return;
  }
}

}  // namespace

bool enabled() {
  return g_enabled;
}

bool rebuilding() {
  return g_rebuilding;
}

bool ending() {
  return g_ending;
}

bool start(bool restored) {
  g_rebuilding = restored;
  const char* addr = getenv("CRMPI_COORD");
  if (!addr || !*addr) return true;  // no coordinator: no job checkpoints
  uint8_t secret[coord::kSecretBytes];
  const char* hex = getenv("CRMPI_JOB_SECRET");
  if (!hex || !coord::parse_secret(hex, secret)) {
    fprintf(stderr, "crmpi: rank %d: $CRMPI_JOB_SECRET is missing or malformed\n", g_rank);
    return false;
  }
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  coord::Hello h{};
  h.version = coord::kVersion;
  h.rank = static_cast<uint32_t>(g_rank);
  h.nranks = static_cast<uint32_t>(size);
  h.agent_pid = getpid();
  h.app_pid = g_app;
  h.restored = restored ? 1 : 0;
  gethostname(h.host, sizeof h.host - 1);
  std::string err;
  if (!g_link.connect(addr, secret, h, &err)) {
    fprintf(stderr, "crmpi: rank %d: cannot join the job's coordinator at %s: %s\n", g_rank, addr,
            err.c_str());
    return false;
  }
  g_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::thread(event_thread).detach();
  g_enabled = true;
  // The handshake may have read more than the Welcome: a checkpoint a rank
  // asked for before we joined starts as soon as the last rank is in, and
  // its Intent can come in the same read.  The socket would stay quiet (the
  // event thread would never wake us) and the job would wait for our Seqs
  // forever: look at what is read already at the first poll.
  g_event.store(1);
  return true;
}

namespace {

struct Pending {
  coord::Frame f;
  std::vector<char> body;
};
std::deque<Pending> g_frames;  // read, not handled yet
bool g_polling = false;        // poll() is running (MPI inside it may progress)

// Frames whose handling makes MPI calls.
bool needs_mpi(const coord::Frame& f) {
  return f.type == coord::kDrainStep;
}

// Read what arrived; handle frames in order, stopping at one that needs MPI
// when `in_progress` (we are inside an MPI call).
void pump(bool in_progress) {
  coord::Frame f;
  std::vector<char> body;
  int k;
  while ((k = g_link.recv(&f, &body)) == 1) g_frames.push_back({f, std::move(body)});
  while (!g_frames.empty()) {
    if (in_progress && needs_mpi(g_frames.front().f)) return;
    Pending p = std::move(g_frames.front());
    g_frames.pop_front();
    handle(p.f, p.body);
  }
  if (k < 0) {
    fprintf(stderr, "crmpi: rank %d: lost the job's coordinator (%s): no more checkpoints\n",
            g_rank, g_link.error());
    on_abort();
    g_enabled = false;
  }
}

}  // namespace

void poll() {
  if (!g_enabled || g_polling) return;
  if (!g_event.exchange(0) && g_frames.empty()) return;
  g_polling = true;
  pump(false);
  if (g_ep.libcr >= 0) on_libcr_reply();
  g_polling = false;
  g_armed.store(1);
  futex_wake(&g_armed);
}

void progress_poll() {
  if (!g_enabled || g_polling || !g_event.load(std::memory_order_relaxed)) return;
  g_event.store(0);
  g_polling = true;
  pump(true);
  if (g_ep.libcr >= 0) on_libcr_reply();
  g_polling = false;
  if (g_frames.empty()) {
    g_armed.store(1);
    futex_wake(&g_armed);
  } else {
    g_event.store(1);  // the main loop handles the rest
  }
}

bool pausing() {
  return g_ep.stage == Stage::kQuiesce || g_ep.stage == Stage::kDrain;
}

void comm_added(MPI_Comm c, uint64_t id, uint64_t seq) {
  int inter = 0, size = 0;
  MPI_Comm_test_inter(c, &inter);
  MPI_Comm_size(c, &size);
  g_comms[c] = {id, seq, !inter && size == 1};
  g_coming.erase(id);
}

void comm_coming(uint64_t id) {
  g_coming.insert(id);
}

void app_hello() {
  if (g_ep.stage == Stage::kSafePoint) send_seqs();  // now ready
}

void comm_freed(MPI_Comm c) {
  g_comms.erase(c);
}

std::vector<MPI_Comm> app_comms() {
  std::vector<MPI_Comm> v;
  for (const auto& kv : g_comms) v.push_back(kv.first);
  return v;
}

namespace {

// Parks the caller while this rank is at a safe point (agent_ckpt.cpp,
// "Algorithm"): the coordinator holds, this rank is at its target on every
// communicator, and the collective ahead would pass one (`passes`).
// Throws Paused once the checkpoint wants the app quiescent.
void park_at_targets(const CommInfo* info) {
  for (;;) {
    if (pausing()) throw Paused{chan::kRcPaused};
    // (A communicator the targets do not know yet -- made since -- counts
    // as at its target: its first collective waits too.)
    bool passes = !info || info->seq + 1 > target_of(*info);
    bool held =
        g_ep.stage == Stage::kSafePoint && g_ep.have_targets && g_ep.hold && passes && !behind();
    if (!held) return;
    idle(1);
  }
}

}  // namespace

void enter_collective(MPI_Comm c) {
  auto it = g_comms.find(c);
  if (it == g_comms.end()) return;  // not one of the app's (internal)
  // A one-member communicator's collective waits for nobody: never held.
  if (it->second.solo) {
    if (pausing()) throw Paused{chan::kRcPaused};
    g_in_collective = true;
    return;
  }
  // Held only at a safe point: this collective would pass its target, and
  // this rank is at its target on every other communicator.  A rank behind
  // on one communicator must go on -- its program may reach those
  // collectives only through more collectives here (the targets then rise
  // with what it reports).
  park_at_targets(&it->second);
  CommInfo& info = it->second;
  info.seq++;
  g_in_collective = true;
  // Past its target (a rank behind elsewhere, or no hold): members parked
  // at that target wait for the targets to rise, which only this report
  // can make happen while this collective waits for them.
  if (g_ep.stage == Stage::kSafePoint && g_ep.have_targets) {
    auto t = g_ep.targets.find(info.id);
    if (t == g_ep.targets.end() || info.seq > t->second) send_seqs();
  }
}

void enter_group_collective(MPI_Comm counted) {
  auto it = g_comms.find(counted);
  CommInfo* info = it == g_comms.end() || it->second.solo ? nullptr : &it->second;
  // A rank at its targets parks here like before any collective (nothing
  // it reported ready for may follow); once inside it cannot pause, so it
  // tells the coordinator, which lifts every hold until it is out: the
  // group's other members may be parked elsewhere, before this call.
  park_at_targets(info);
  if (info) info->seq++;
  g_in_collective = g_in_group_collective = true;
  if (g_ep.stage == Stage::kSafePoint) send_seqs();
}

void left_collective() {
  // Out of a group collective, this rank holds again at once, before the
  // coordinator's next Targets: otherwise a rank that goes from one group
  // collective to the next (waiting in each for members busy elsewhere)
  // would be inside one whenever the coordinator looks, and the safe point
  // would never come.
  if (g_in_group_collective) g_ep.hold = true;
  g_in_collective = g_in_group_collective = false;
  if (g_ep.stage == Stage::kSafePoint) send_seqs();
}

bool wait_or_pause(MPI_Request* r, MPI_Status* st, int* rc) {
  for (unsigned i = 0;; ++i) {
    int flag = 0;
    *rc = MPI_Test(r, &flag, st);
    if (flag || *rc != MPI_SUCCESS) return true;
    if (g_event.load(std::memory_order_relaxed)) poll();
    if (pausing()) return false;
    if ((i & 255) == 255) sched_yield();
  }
}

int wait_through(MPI_Request* r, MPI_Status* st) {
  MPI_Status ignored;
  if (st == MPI_STATUS_IGNORE) st = &ignored;
  for (unsigned i = 1;; ++i) {
    int flag = 0;
    int rc = MPI_Test(r, &flag, st);
    if (flag || rc != MPI_SUCCESS) return rc;
    if (g_event.load(std::memory_order_relaxed)) poll();
    if (pausing() && (i & 1023) == 0) drain_step();
    if ((i & 255) == 0) sched_yield();
  }
}

void poll_or_pause() {
  if (g_event.load(std::memory_order_relaxed)) poll();
  if (pausing()) throw Paused{chan::kRcPaused};
}

void idle(int ms) {
  serve_pending();
  int flag;  // lets MPI progress our own sends while we wait for events
  MPI_Iprobe(MPI_ANY_SOURCE, 0, g_ack_comm, &flag, MPI_STATUS_IGNORE);
  if (!g_event.load()) {
    pollfd pf[2] = {{g_link.fd(), POLLIN, 0}, {g_ep.libcr, POLLIN, 0}};
    if (::poll(pf, g_ep.libcr >= 0 ? 2 : 1, ms) > 0) g_event.store(1);
  }
  poll();
}

void op_quiesced(chan::Msg& m) {
  m.a.ckpt = {};
  m.a.ckpt.epoch = g_ep.id;
  if (g_ep.stage != Stage::kQuiesce) {
    m.a.ckpt.status = ECANCELED;  // abandoned before the app got here
    return;
  }
  g_ep.stage = Stage::kDrain;
  if (matched_messages_pending() || !g_stash_msgs.empty()) {
    // Its sender counted it; nobody will count it received before the app's
    // Mrecv: the drain would never balance.  Fail now, clearly.
    fail(ENOTSUP, "a message matched by MPI_Mprobe/MPI_Improbe is not received yet "
                  "(not supported in a checkpoint)");
    while (!g_ep.aborted && g_enabled) idle(1);
    m.a.ckpt.status = ECANCELED;
    return;
  }
  coord::Quiesced q{};
  send(coord::kQuiesced, &q, sizeof q);
  // Until the job is drained: receive what comes (a rank still waiting for
  // its send to us completes, and can reach its own quiescence).
  bool failed = false;  // then only the coordinator's Abort ends the loop
  while (!g_ep.drain_done && !g_ep.aborted && g_enabled) {
    if (!failed)
      if (int rc = drain_step()) {
        fail(rc, std::string("drain: cannot copy a message from its sender: ") + strerror(rc));
        failed = true;
      }
    idle(1);
  }
  if (g_ep.aborted || !g_enabled) {
    m.a.ckpt.status = ECANCELED;
    return;
  }
  if (int rc = settle()) {
    fail(rc, rc == ENOTSUP ? "a message matched by MPI_Mprobe/MPI_Improbe is not received yet "
                             "(not supported in a checkpoint)"
                           : std::string("cannot settle the pending requests after the drain: ") +
                                 strerror(rc));
    m.a.ckpt.status = static_cast<uint64_t>(rc);
    return;
  }
  m.a.ckpt.messages = stashed_messages();
}

void finalize_meet() {
  static MPI_Request barrier = MPI_REQUEST_NULL;  // kept across a pause
  while (g_requests && g_enabled) {
    if (pausing()) throw Paused{chan::kRcPaused};
    idle(1);
  }
  if (barrier == MPI_REQUEST_NULL) MPI_Ibarrier(g_ack_comm, &barrier);
  int rc;
  if (!wait_or_pause(&barrier, MPI_STATUS_IGNORE, &rc)) throw Paused{chan::kRcPaused};
  finishing();
}

void finishing() {
  g_finishing = true;
  // A checkpoint that has not drained yet cannot complete now: this app is
  // leaving MPI (and cannot be paused inside MPI_Finalize).
  if (g_ep.stage == Stage::kSafePoint || g_ep.stage == Stage::kQuiesce)
    fail_finished();
}

bool request_job_checkpoint(uint32_t after) {
  if (!g_enabled) return false;
  coord::Request r{};
  r.after = after;
  if (!g_link.send(coord::kRequest, 0, &r, sizeof r)) return false;
  ++g_requests;
  return true;
}

void op_resume(chan::Msg& m) {
  g_rebuilding = false;
  g_sh->hold.store(0);
  if (g_ep.stage == Stage::kDrain) g_ep.stage = Stage::kCaptured;
  m.rc = MPI_SUCCESS;
}

}  // namespace crmpi::agent::ckpt
