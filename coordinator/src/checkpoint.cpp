// checkpoint.cpp -- one job checkpoint, as the stages of
// crmpi/coord_protocol.h.  Table of contents (each a function below):
//
//   begin          check the request, make the folder, send Intent
//   gather         Seqs/Targets rounds until the collective safe point
//   quiesce        Quiesce; wait for Quiesced from every rank
//   drain_round    DrainStep rounds until sum(sent) == sum(received)
//   write_images   DrainDone; wait for Written from every rank
//   link_images    Link; wait for Linked from every rank
//   commit         fsync the folder, write the manifest, Commit(after)
//   fail           Abort to every rank, remove this epoch's files
//
// advance() moves from stage to stage once a stage's condition holds; the
// connections (coordinator.cpp) feed on_rank_message.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coord_impl.h"

namespace crmpi::coord {
namespace {

std::string image_name(int rank, uint32_t epoch) {
  return "rank." + std::to_string(rank) + ".e" + std::to_string(epoch) + ".img";
}

std::string utc_now() {
  char buf[32];
  const time_t t = time(nullptr);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Makes @dir (0700) or checks the existing one: a directory (not a
// symlink) we own, holding no manifest and none of this epoch's images.
// Returns "" or the problem; *made says whether we created it.
std::string prepare_dir(const std::string& dir, int nranks, uint32_t epoch, bool* made) {
  *made = false;
  if (dir.empty() || dir[0] != '/') return "checkpoint folder '" + dir + "' is not an absolute path";
  if (dir.size() >= kPathMax) return "checkpoint folder path is too long";
  if (mkdir(dir.c_str(), 0700) == 0) {
    *made = true;
    return "";
  }
  if (errno != EEXIST) return "cannot create checkpoint folder " + dir + ": " + strerror(errno);
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return "checkpoint folder " + dir + " is not a directory";
  if (st.st_uid != geteuid()) return "checkpoint folder " + dir + " belongs to another user";
  if (access((dir + "/" + manifest::kFileName).c_str(), F_OK) == 0)
    return "checkpoint folder " + dir + " already holds a checkpoint (" + manifest::kFileName + ")";
  for (int r = 0; r < nranks; ++r)
    if (access((dir + "/" + image_name(r, epoch)).c_str(), F_OK) == 0)
      return "checkpoint folder " + dir + " already holds " + image_name(r, epoch);
  return "";
}

// The default folder: @parent/<job>.ckpt.<epoch>, made (0700) here for the
// first epoch from *epoch on whose folder does not exist yet -- the same
// program run before in the same place, or running beside this job, keeps
// its own.  Returns "" (with *epoch and *dir set) or the problem.
std::string claim_default_dir(const std::string& parent, const std::string& job_name,
                              uint32_t* epoch, std::string* dir) {
  for (uint32_t e = *epoch; e < *epoch + 10000; ++e) {
    const std::string d = default_checkpoint_dir(parent, job_name, e);
    if (d.size() >= kPathMax) return "checkpoint folder path is too long";
    if (mkdir(d.c_str(), 0700) == 0) {
      *epoch = e;
      *dir = d;
      return "";
    }
    if (errno != EEXIST) return "cannot create checkpoint folder " + d + ": " + strerror(errno);
  }
  return "no free checkpoint folder name in " + parent + " (10000 taken)";
}

int fsync_dir(const std::string& dir) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  const int rc = fsync(fd) == 0 ? 0 : errno;
  close(fd);
  return rc;
}

}  // namespace

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::kIdle: return "idle";
    case Stage::kGather: return "safe point (Seqs/Targets)";
    case Stage::kQuiesce: return "quiesce";
    case Stage::kDrain: return "drain";
    case Stage::kWrite: return "write";
    case Stage::kLink: return "link";
    case Stage::kCommit: return "commit";
  }
  return "?";
}

std::string default_checkpoint_dir(const std::string& parent, const std::string& job_name,
                                   uint32_t epoch) {
  return parent + "/" + (job_name.empty() ? "job" : job_name) + ".ckpt." + std::to_string(epoch);
}

bool Coordinator::Impl::begin(const CheckpointRequest& req, std::string* err) {
  if (cur) {
    *err = "a checkpoint (epoch " + std::to_string(cur->epoch) + ") is already in progress";
    return false;
  }
  if (cfg.nranks == 0 || nauthed < cfg.nranks) {
    *err = "only " + std::to_string(nauthed) + " of " + std::to_string(cfg.nranks) +
           " ranks have connected to the coordinator (is the job still starting?)";
    return false;
  }
  uint32_t epoch = next_epoch;
  Attempt a;
  a.req = req;
  if (!a.req.timeout_s) a.req.timeout_s = cfg.default_timeout_s;
  if (req.dir.empty()) {
    *err = claim_default_dir(cfg.checkpoint_parent, cfg.job.job_name, &epoch, &a.dir);
    a.made_dir = err->empty();
  } else {
    a.dir = req.dir;
    while (a.dir.size() > 1 && a.dir.back() == '/') a.dir.pop_back();
    *err = prepare_dir(a.dir, cfg.nranks, epoch, &a.made_dir);
  }
  if (!err->empty()) return false;
  a.epoch = epoch;
  next_epoch = epoch + 1;  // from here on this number is used, whatever happens
  a.deadline = now_ms() + 1000L * a.req.timeout_s;
  a.ranks.resize(static_cast<size_t>(cfg.nranks));
  cur = std::move(a);
  // Intent: each rank's image name differs, so it is sent rank by rank.
  Intent in = {};
  in.timeout_s = cur->req.timeout_s;
  in.after = cur->req.after;
  memcpy(in.dir, cur->dir.c_str(), cur->dir.size() + 1);
  for (int r = 0; r < cfg.nranks; ++r) {
    const std::string name = image_name(r, epoch);
    memset(in.image_name, 0, sizeof in.image_name);
    memcpy(in.image_name, name.c_str(), name.size() < 63 ? name.size() : 63);
    send_to(rank_fd[static_cast<size_t>(r)], kIntent, epoch, &in, sizeof in);
  }
  report_progress();
  return true;
}

// A rank asks for a checkpoint (crmpi_request_checkpoint()).  It hears
// the end exactly once (RequestDone): it will not leave MPI_Finalize before.
// A request made while some ranks are still connecting waits for them.
void Coordinator::Impl::rank_request(int rank, const Request& rq) {
  CheckpointRequest req;
  req.after = rq.after <= kAfterKill ? rq.after : kAfterContinue;
  const std::string who = "rank " + std::to_string(rank);
  req.on_done = [this, rank, who](const Outcome& o) {
    log(o.committed ? "checkpoint " + std::to_string(o.epoch) + " requested by " + who +
                          " committed: " + o.manifest_path
                    : "checkpoint requested by " + who + " failed: " + o.text);
    answer_request(rank, o.committed ? 0 : (o.error ? o.error : EIO), o.epoch, o.text);
  };
  if (!cur && nauthed < cfg.nranks && !deferred) {
    deferred = std::move(req);
    deferred_deadline = now_ms() + 1000L * cfg.default_timeout_s;
    return;
  }
  std::string err;
  if (!begin(req, &err)) {
    log("checkpoint requested by " + who + " not started: " + err);
    answer_request(rank, EBUSY, 0, err);
  }
}

void Coordinator::Impl::answer_request(int rank, int error, uint32_t epoch, const std::string& text) {
  if (rank < 0 || static_cast<size_t>(rank) >= rank_fd.size() || rank_fd[static_cast<size_t>(rank)] < 0)
    return;
  RequestDone d{};
  d.error = error;
  d.epoch = epoch;
  snprintf(d.text, sizeof d.text, "%s", text.c_str());
  send_to(rank_fd[static_cast<size_t>(rank)], kRequestDone, epoch, &d, sizeof d);
}

// The last rank connected: a request that waited for it starts now.
void Coordinator::Impl::start_deferred() {
  if (!deferred || nauthed < cfg.nranks || cur) return;
  std::string err;
  if (begin(*deferred, &err))
    deferred.reset();
  else
    drop_deferred(EBUSY, err);
}

// The waiting request will not start: its requester hears why.
void Coordinator::Impl::drop_deferred(int error, const std::string& text) {
  CheckpointRequest req = std::move(*deferred);
  deferred.reset();
  Outcome o;
  o.error = error;
  o.text = text;
  if (req.on_done) req.on_done(o);
}

// A message of an authenticated rank.  Messages of another epoch are late
// answers to an abandoned checkpoint: ignored.
void Coordinator::Impl::on_rank_message(int rank, const Frame& f, const std::vector<char>& body) {
  if (trace())
    log("trace: rank " + std::to_string(rank) + " sent " + type_name(f.type) + " (epoch " +
        std::to_string(f.epoch) + ", stage " + (cur ? stage_name(cur->stage) : "none") + ")" +
        (f.type == kSeqs && body.size() >= sizeof(Seqs) ? seqs_text(body) : ""));
  if (f.type == kRequest) {
    Request rq{};
    memcpy(&rq, body.data(), sizeof rq < body.size() ? sizeof rq : body.size());
    return rank_request(rank, rq);
  }
  if (f.type == kLinked && abandoned && f.epoch == abandoned->epoch) return late_linked(rank, f.epoch);
  if (!cur || f.epoch != cur->epoch) return;
  RankState& s = cur->ranks[static_cast<size_t>(rank)];
  const std::string who = "rank " + std::to_string(rank);
  auto wrong_stage = [&] {
    fail(EPROTO, who + " sent " + type_name(f.type) + " during stage " + stage_name(cur->stage));
  };
  switch (f.type) {
    case kFailed: {
      Failed x;
      memcpy(&x, body.data(), sizeof x);
      x.text[sizeof x.text - 1] = '\0';
      // The errno's text, unless the agent's text already says it.
      const std::string why = x.error > 0 ? strerror(x.error) : "";
      const bool said = why.empty() || strstr(x.text, why.c_str());
      return fail(x.error ? x.error : EIO, who + " failed: " + x.text + (said ? "" : " (" + why + ")"));
    }
    case kSeqs: {
      if (cur->stage != Stage::kGather) return;  // crossed our Quiesce: stale
      const bool was_inside = s.have_seqs && s.last.in_group_collective;
      memcpy(&s.last, body.data(), sizeof s.last);
      if (was_inside && !s.last.in_group_collective) s.left_group = true;
      const auto* cs = reinterpret_cast<const CommSeq*>(body.data() + sizeof(Seqs));
      s.seqs.assign(cs, cs + s.last.count);
      s.have_seqs = true;
      return;
    }
    case kQuiesced:
      if (cur->stage != Stage::kQuiesce) return wrong_stage();
      if (!s.quiesced) s.quiesced = true, ++cur->n_quiesced, cur->progress_dirty = true;
      return;
    case kCounts:
      if (cur->stage != Stage::kDrain) return wrong_stage();
      memcpy(&s.counts, body.data(), sizeof s.counts);
      s.counted = true;
      return;
    case kWritten:
      if (cur->stage != Stage::kWrite || s.written) return wrong_stage();
      memcpy(&s.image, body.data(), sizeof s.image);
      s.written = true;
      ++cur->n_written;
      cur->bytes += s.image.image_bytes;
      cur->progress_dirty = true;
      return;
    case kLinked:
      if (cur->stage != Stage::kLink) return wrong_stage();
      if (!s.linked) s.linked = true, ++cur->n_linked;
      return;
    default:
      return fail(EPROTO, who + " sent an unexpected " + type_name(f.type));
  }
}

// The stage machine: each stage's exit condition, then the next stage.
void Coordinator::Impl::advance() {
  const int n = cfg.nranks;
  switch (cur->stage) {
    case Stage::kGather:
      return gather();
    case Stage::kQuiesce:
      if (cur->n_quiesced == n) drain_round();
      return;
    case Stage::kDrain: {
      uint64_t sent = 0, received = 0;
      for (const RankState& s : cur->ranks) {
        if (!s.counted) return;
        sent += s.counts.sent, received += s.counts.received;
      }
      if (sent == received) return write_images();
      return drain_round();  // messages still in flight: another round
    }
    case Stage::kWrite:
      if (cur->n_written == n) link_images();
      return;
    case Stage::kLink:
      if (cur->n_linked == n) commit();
      return;
    case Stage::kIdle:
    case Stage::kCommit:
      return;
  }
}

// Algorithm (the collective safe point, MANA's sequence numbers):
//   * every rank answers the Intent, and then every Targets round, with
//     Seqs(round, ready, inside, [(comm, seq)]), and again whenever its
//     seqs change or it enters a group collective;
//   * once every rank has answered, targets[comm] = the highest seq any
//     rank reported for comm (targets never fall);
//   * hold = no rank's latest Seqs says it is inside a group collective
//     (MPI_Comm_create_group, MPI_Intercomm_create: no one communicator's
//     count orders them, so their members may be parked at targets while
//     one of them waits inside; with hold 0 nobody parks and they join it);
//   * the first time, and whenever a target rises or hold changes, or a
//     rank left a group collective while another is inside one (a rank
//     that leaves one holds again at once, and must hear again that nobody
//     holds: it may be a member of the other), Targets(round + 1, hold)
//     goes to every rank: ranks behind run up to their targets, ranks at
//     them park before their next collective (if hold);
//   * the safe point is reached when hold is 1 and every rank's latest
//     Seqs answers the current round, says ready, and each seq equals its
//     comm's target.  A rank that said ready in a hold round parks before
//     any collective, group collectives included, so none is inside one
//     when the Quiesce comes.
void Coordinator::Impl::gather() {
  bool rose = false, inside = false, left = false;
  for (const RankState& s : cur->ranks) {
    if (!s.have_seqs) return;  // the Intent is not answered by all yet
    inside = inside || s.last.in_group_collective;
    left = left || s.left_group;
    for (const CommSeq& c : s.seqs) {
      uint64_t& t = cur->targets[c.comm_id];
      if (c.seq > t) t = c.seq, rose = true;
    }
  }
  // (A rank that left a group collective holds again at once; while
  // another is inside one, it must hear that nobody holds, or it could
  // stay parked before the very call the other waits in.)
  if (rose || cur->round == 0 || cur->hold == inside || (inside && left)) {
    ++cur->round;
    cur->hold = !inside;
    for (RankState& s : cur->ranks) s.left_group = false;
    std::vector<char> msg(sizeof(Targets) + cur->targets.size() * sizeof(CommSeq));
    Targets t = {static_cast<uint32_t>(cur->targets.size()), cur->round, cur->hold ? 1u : 0u, 0};
    memcpy(msg.data(), &t, sizeof t);
    size_t i = 0;
    for (const auto& [id, seq] : cur->targets) {
      const CommSeq cs = {id, seq};
      memcpy(msg.data() + sizeof t + sizeof cs * i++, &cs, sizeof cs);
    }
    broadcast(kTargets, msg.data(), msg.size());
    return;
  }
  if (cur->hold && converged()) quiesce();
}

bool Coordinator::Impl::converged() const {
  for (const RankState& s : cur->ranks) {
    if (!s.last.ready || s.last.in_group_collective || s.last.round != cur->round) return false;
    for (const CommSeq& c : s.seqs)
      if (cur->targets.at(c.comm_id) != c.seq) return false;
  }
  return true;
}

void Coordinator::Impl::quiesce() {
  cur->stage = Stage::kQuiesce;
  cur->progress_dirty = true;
  broadcast(kQuiesce, nullptr, 0);
}

void Coordinator::Impl::drain_round() {
  cur->stage = Stage::kDrain;
  ++cur->drain_round;
  for (RankState& s : cur->ranks) s.counted = false;
  broadcast(kDrainStep, nullptr, 0);
}

void Coordinator::Impl::write_images() {
  cur->stage = Stage::kWrite;
  cur->progress_dirty = true;
  broadcast(kDrainDone, nullptr, 0);
}

void Coordinator::Impl::link_images() {
  cur->stage = Stage::kLink;
  cur->progress_dirty = true;
  const Link l = {};
  broadcast(kLink, &l, sizeof l);
}

// Every image has its name and is fsynced (Linked): make the folder
// durable, write the manifest last, then Commit.
void Coordinator::Impl::commit() {
  if (int e = fsync_dir(cur->dir)) return fail(e, "cannot fsync " + cur->dir + ": " + strerror(e));
  manifest::Manifest m = cfg.job;
  m.epoch = cur->epoch;
  m.time = utc_now();
  m.ranks.clear();
  for (int r = 0; r < cfg.nranks; ++r) {
    const RankState& s = cur->ranks[static_cast<size_t>(r)];
    const Hello& h = peers.at(rank_fd[static_cast<size_t>(r)]).hello;
    manifest::RankImage ri;
    ri.rank = r;
    ri.host = h.host;
    ri.image = image_name(r, cur->epoch);
    ri.bytes = s.image.image_bytes;
    ri.digest = s.image.image_digest;
    ri.app_pid = h.app_pid;
    m.ranks.push_back(ri);
  }
  try {
    manifest::write(cur->dir, m);
  } catch (const std::exception& e) {
    return fail(EIO, std::string("cannot write the manifest: ") + e.what());
  }
  cur->stage = Stage::kCommit;
  cur->progress_dirty = true;
  report_progress();
  const Commit c = {cur->req.after, 0};
  broadcast(kCommit, &c, sizeof c);
  Outcome o;
  o.committed = true;
  o.epoch = cur->epoch;
  o.dir = cur->dir;
  o.manifest_path = cur->dir + "/" + manifest::kFileName;
  o.bytes = cur->bytes;
  o.text = "committed";
  finish(o);
}

void Coordinator::Impl::rank_gone(int rank, const std::string& why) {
  fail(ECONNRESET, "rank " + std::to_string(rank) + " disconnected (" + why + ")");
}

void Coordinator::Impl::fail(int error, const std::string& why) {
  Abort a = {};
  const std::string reason = "checkpoint " + std::to_string(cur->epoch) + " abandoned: " + why;
  memcpy(a.reason, reason.c_str(), reason.size() < kTextMax - 1 ? reason.size() : kTextMax - 1);
  broadcast(kAbort, &a, sizeof a);
  remove_files();
  if (cur->stage == Stage::kLink) abandoned = Abandoned{cur->epoch, cur->dir, cur->made_dir};
  log(reason + "; the job goes on");
  Outcome o;
  o.epoch = cur->epoch;
  o.error = error;
  o.text = reason;
  o.dir = cur->dir;
  finish(o);
}

// Removes only what this epoch created: its image names (and their
// "NAME.tmp.*" temporaries) and the folder if we made it and it is empty.
void Coordinator::Impl::remove_files() {
  const int dfd = open(cur->dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  std::vector<std::string> names;
  for (int r = 0; r < cfg.nranks; ++r) names.push_back(image_name(r, cur->epoch));
  for (const std::string& n : names) unlinkat(dfd, n.c_str(), 0);
  if (DIR* d = fdopendir(dup(dfd))) {
    while (const struct dirent* e = readdir(d))
      for (const std::string& n : names)
        if (strncmp(e->d_name, (n + ".tmp.").c_str(), n.size() + 5) == 0) unlinkat(dfd, e->d_name, 0);
    closedir(d);
  }
  close(dfd);
  if (cur->made_dir) rmdir(cur->dir.c_str());
}

// Rank @rank named its image of abandoned epoch @epoch after remove_files
// ran (it handled Link before our Abort): remove that name, and the folder
// if we made it and it is now empty.  The name carries the epoch, and
// begin() made sure the folder held no image of that epoch before.
void Coordinator::Impl::late_linked(int rank, uint32_t epoch) {
  const std::string path = abandoned->dir + "/" + image_name(rank, epoch);
  if (unlink(path.c_str()) == 0 && abandoned->made_dir) rmdir(abandoned->dir.c_str());
}

// The attempt is over: the caller hears it after the state is idle again,
// so that it may start another checkpoint from its callback.
void Coordinator::Impl::finish(Outcome o) {
  auto done = std::move(cur->req.on_done);
  const uint32_t after = cur->req.after;
  cur.reset();
  if (done) done(o);
  if (o.committed && cfg.on_committed) cfg.on_committed(o, after);
}

Progress Coordinator::Impl::progress() const {
  Progress p;
  p.nranks = cfg.nranks;
  if (!cur) return p;
  p.stage = cur->stage;
  p.epoch = cur->epoch;
  p.paused = cur->n_quiesced;
  p.written = cur->n_written;
  p.bytes = cur->bytes;
  return p;
}

void Coordinator::Impl::report_progress() {
  if (!cur || !cur->progress_dirty) return;
  cur->progress_dirty = false;
  if (cur->req.on_progress) cur->req.on_progress(progress());
}

}  // namespace crmpi::coord
