// crmpi/coordinator.h -- the job checkpoint coordinator, linked into
// crmpirun: it accepts the ranks' agents (TCP, authenticated with the job
// secret) and drives each checkpoint through the stages of
// crmpi/coord_protocol.h, then writes the manifest (crmpi/manifest.h).
//
// Event loop: the coordinator owns an epoll fd (fd()).  The caller polls it
// with its other fds and calls step(0) when it is readable, and at least
// every next_timeout_ms() so that deadlines fire; or calls step(ms) alone.
// Outcomes reach the caller through the callbacks of a CheckpointRequest,
// called from step().
//
// Thread safety: none; one thread drives it.  Signal safety: none.
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "crmpi/coord_protocol.h"
#include "crmpi/manifest.h"

namespace crmpi::coord {

struct Outcome;

struct CoordinatorConfig {
  int nranks = 0;                  // ranks that will connect (MPI_COMM_WORLD size);
                                   // 0: unknown, taken from the first authenticated Hello
  uint8_t secret[kSecretBytes] = {};
  uint32_t first_epoch = 1;        // a restarted job: the manifest's epoch + 1
  std::string checkpoint_parent;   // where default checkpoint folders go (absolute)
  // The manifest's job-wide fields (job_name, command, mpirun_options, cwd,
  // environment, preload, image/channel/protocol versions); epoch, time and
  // ranks are filled per checkpoint.
  manifest::Manifest job;
  uint32_t default_timeout_s = 300;
  // One line per event worth telling (a rejected agent, an abandoned
  // checkpoint).  Default: stderr with a "crmpirun: " prefix.
  std::function<void(const std::string&)> log;
  // "127.0.0.1" forces the loopback address (tests, single-host jobs);
  // empty: listen on every interface and give agents this host's name.
  std::string bind_host;
  // Every committed checkpoint, whoever asked for it (cr_checkpoint, the
  // periodic timer, a rank), with its coord::After, after the request's own
  // on_done: crmpirun ends the job after a committed --term/--kill.  May be
  // empty.
  std::function<void(const Outcome&, uint32_t after)> on_committed;
};

enum class Stage : uint32_t {
  kIdle = 0,
  kGather = 1,   // Intent, Seqs/Targets rounds: the collective safe point
  kQuiesce = 2,  // waiting for Quiesced from every rank
  kDrain = 3,    // DrainStep rounds until sum(sent) == sum(received)
  kWrite = 4,    // DrainDone sent, waiting for Written
  kLink = 5,     // waiting for Linked
  kCommit = 6,   // manifest written, Commit sent
};
const char* stage_name(Stage s);  // never NULL

struct Progress {
  Stage stage = Stage::kIdle;
  uint32_t epoch = 0;
  int nranks = 0;
  int paused = 0;    // ranks that sent Quiesced
  int written = 0;   // ranks that sent Written
  uint64_t bytes = 0;  // sum of their image sizes
};

struct Outcome {
  bool committed = false;
  uint32_t epoch = 0;
  int error = 0;               // errno-style cause when not committed
  std::string text;            // what happened, naming the rank and the cause
  std::string dir;             // the checkpoint folder
  std::string manifest_path;   // when committed
  uint64_t bytes = 0;
};

struct CheckpointRequest {
  // The checkpoint folder.  Made (0700) if missing; if it exists it must be
  // a directory the user owns that holds no manifest.  Empty: the default,
  // checkpoint_parent/<job>.ckpt.<epoch>, always a new folder: an epoch
  // whose folder exists already is skipped.
  std::string dir;
  uint32_t after = kAfterContinue;  // coord::After, sent with Commit
  uint32_t timeout_s = 0;           // 0: the config's default
  std::function<void(const Progress&)> on_progress;  // may be empty
  std::function<void(const Outcome&)> on_done;       // may be empty
};

class Coordinator {
 public:
  Coordinator();
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  // Listens (TCP, ephemeral port).  False with *@err on failure.
  bool start(const CoordinatorConfig& cfg, std::string* err);

  // "host:port" for $CRMPI_COORD.
  const std::string& address() const;
  int port() const;

  // The epoll fd to poll for readability.
  int fd() const;

  // Handles whatever is ready, waiting at most @timeout_ms (0: not at all,
  // < 0: until something happens), then fires deadlines.
  void step(int timeout_ms);

  // Milliseconds until the next deadline (a checkpoint's timeout, a
  // handshake's), or -1 if none.
  int next_timeout_ms() const;

  // Starts a checkpoint.  False with *@err (and nothing started) when one is
  // already in progress ("a checkpoint (epoch E) is already in progress"),
  // when not every rank has connected, or when the folder is unusable.
  // Otherwise the outcome comes later through req.on_done.
  bool request_checkpoint(const CheckpointRequest& req, std::string* err);

  // Abandons the running checkpoint, if any (its requester went away):
  // Abort to every rank, its files removed, on_done with @why.
  void abandon(const std::string& why);

  bool busy() const;                // a checkpoint is in progress
  uint32_t current_epoch() const;   // the running one's, or 0
  uint32_t next_epoch() const;      // the number the next attempt will get
  int connected_ranks() const;      // authenticated agents
  Progress progress() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The default folder of epoch @epoch: @parent/<job_name>.ckpt.<epoch>.
std::string default_checkpoint_dir(const std::string& parent, const std::string& job_name,
                                   uint32_t epoch);

}  // namespace crmpi::coord
