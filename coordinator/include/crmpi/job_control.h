// crmpi/job_control.h -- the job control socket: how `cr_checkpoint
// <crmpirun PID>` asks crmpirun for a job checkpoint.
//
// Where and who: a SOCK_SEQPACKET Unix socket "job.<crmpirun pid>" in the
// control socket folder of crmpirun's euid, with every rule of libcr's
// control channel (libcr/src/control/control.h): folder 0700 owned by the
// user (/tmp/crmpi-<euid>, /run/crmpi for root); the listener admits a
// requester by SO_PEERCRED (same uid and gid as crmpirun's ids, crmpirun
// dumpable; root always); the requester checks that the listener is the
// crmpirun it meant (pid and uid) before it sends anything.
//
// Messages (one each, little-endian):
//   requester -> crmpirun  WireRequest
//   crmpirun -> requester  WireReply kind kProgress (any number, as stages
//                          pass and ranks pause and write), then one kFinal
// A requester that closes the connection before the kFinal reply abandons
// the checkpoint: every rank is told to abort, the files of that epoch are
// removed, and the job goes on.
//
// Thread safety: JobControlServer is driven by one thread.  Signal safety:
// none.
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <map>
#include <string>

#include "crmpi/coordinator.h"

namespace crmpi::jobctl {

inline constexpr uint32_t kRequestMagic = 0x514a4343;  // "CCJQ"
inline constexpr uint32_t kReplyMagic = 0x504a4343;    // "CCJP"
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kPathMax = 1024;
inline constexpr size_t kTextMax = 256;

struct WireRequest {
  uint32_t magic;      // kRequestMagic
  uint32_t version;    // kVersion
  uint32_t after;      // coord::After
  uint32_t timeout_s;  // 0: crmpirun's default (300 s)
  char dir[kPathMax];  // absolute checkpoint folder, or "" for the default
};
static_assert(sizeof(WireRequest) == 16 + kPathMax);

enum Kind : uint32_t { kProgress = 1, kFinal = 2 };

struct WireReply {
  uint32_t magic;    // kReplyMagic
  uint32_t kind;     // Kind
  uint32_t stage;    // coord::Stage
  uint32_t epoch;
  uint32_t nranks;
  uint32_t paused;   // ranks that reached the safe point and paused
  uint32_t written;  // ranks whose image is written
  int32_t status;    // kFinal: 0 committed, else an errno (EPERM refused, EBUSY busy, ...)
  uint64_t bytes;    // image bytes written so far
  char text[kTextMax];       // kFinal: what happened (names the rank and cause)
  char manifest[kPathMax];   // kFinal, committed: the manifest's absolute path
};
static_assert(sizeof(WireReply) == 40 + kTextMax + kPathMax);

// crmpirun's side: listens, admits requesters, hands their requests to the
// coordinator and relays progress and outcome.
class JobControlServer {
 public:
  JobControlServer() = default;
  ~JobControlServer();
  JobControlServer(const JobControlServer&) = delete;
  JobControlServer& operator=(const JobControlServer&) = delete;

  // Listens on job.<getpid()>.  False with *@err (the folder's problem,
  // named) on failure.
  bool listen(std::string* err);
  // An epoll fd covering the listener and the connections: poll it for
  // readability, then call step().
  int fd() const { return ep_; }
  // Accepts and serves, without blocking.
  void step(coord::Coordinator& c);
  // Removes the socket file and closes everything (also done by the
  // destructor).
  void close();

 private:
  struct Conn {
    bool requested = false;  // a request was taken
    bool active = false;     // its checkpoint is running
    long deadline = 0;       // for the request to arrive
    std::string refused;     // a refused peer: the answer to its request, once read
  };
  void accept_all();
  void serve(coord::Coordinator& c, int fd);
  void end(int fd);
  int ep_ = -1, lfd_ = -1;
  pid_t pid_ = 0;
  std::map<int, Conn> conns_;
  int active_fd_ = -1;
};

// A reply with status and text, kind kFinal.
WireReply final_reply(int status, const std::string& text);

}  // namespace crmpi::jobctl
