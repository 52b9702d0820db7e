// coord_impl.h -- the coordinator's state, shared by coordinator.cpp (the
// connections: accept, handshake, I/O) and checkpoint.cpp (the stages of one
// checkpoint).  Internal to crcoord.
#pragma once

#include <stdint.h>

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "crmpi/coord_wire.h"
#include "crmpi/coordinator.h"

namespace crmpi::coord {

long now_ms();

// One TCP connection: an agent, authenticated or still in the handshake.
struct Peer {
  int fd = -1;
  uint32_t gen = 0;           // tells a reused fd number's events apart
  bool authed = false;
  int rank = -1;
  long deadline = 0;          // the handshake's
  uint8_t nonce[kNonceBytes] = {};  // the Challenge's
  Hello hello = {};
  FrameReader in;
  std::string out;            // bytes not yet accepted by the socket
  bool want_out = false;      // EPOLLOUT armed
};

// One rank's answers during a checkpoint.
struct RankState {
  bool have_seqs = false;
  Seqs last = {};
  // Its Seqs said it left a group collective since the last Targets: it
  // holds again until the next one (coord_protocol.h, Targets.hold).
  bool left_group = false;
  std::vector<CommSeq> seqs;
  bool quiesced = false, counted = false, written = false, linked = false;
  Counts counts = {};
  Written image = {};
};

// The checkpoint in progress.
struct Attempt {
  uint32_t epoch = 0;
  CheckpointRequest req;
  std::string dir;
  bool made_dir = false;
  Stage stage = Stage::kGather;
  long deadline = 0;
  std::map<uint64_t, uint64_t> targets;  // comm id -> max seq reported
  uint32_t round = 0;                     // Targets rounds sent
  bool hold = true;                       // the last Targets' hold
  uint32_t drain_round = 0;
  std::vector<RankState> ranks;
  int n_quiesced = 0, n_written = 0, n_linked = 0;
  uint64_t bytes = 0;
  bool progress_dirty = true;
};

struct Coordinator::Impl {
  CoordinatorConfig cfg;
  int ep = -1, lfd = -1;
  std::string addr;
  int port = 0;
  uint32_t gen = 0;
  std::unordered_map<int, Peer> peers;  // by fd
  std::vector<int> rank_fd;             // -1: rank not connected
  int nauthed = 0;
  uint32_t next_epoch = 1;
  std::optional<Attempt> cur;
  // A rank's request made while some ranks were still connecting.
  std::optional<CheckpointRequest> deferred;
  long deferred_deadline = 0;
  // The last checkpoint abandoned during its link stage: a rank may still
  // name its image after our cleanup (its Link was on the wire when we
  // aborted); its late Linked tells us to remove that name too.
  struct Abandoned {
    uint32_t epoch = 0;
    std::string dir;
    bool made_dir = false;
  };
  std::optional<Abandoned> abandoned;

  // coordinator.cpp
  void log(const std::string& s) const;
  static bool trace();  // $CRMPI_COORD_TRACE set
  static std::string seqs_text(const std::vector<char>& body);
  void accept_all();
  void on_event(uint64_t key, uint32_t events);
  void drop(int fd, const std::string& why, bool quiet);
  void handle(Peer& p, const Frame& f, const std::vector<char>& body);
  void handshake(Peer& p, const Frame& f, const std::vector<char>& body);
  void send_to(int fd, Type t, uint32_t epoch, const void* body, size_t len);
  void broadcast(Type t, const void* body, size_t len);
  void flush(Peer& p);
  void expire();

  // checkpoint.cpp
  bool begin(const CheckpointRequest& req, std::string* err);
  void rank_request(int rank, const Request& rq);
  void answer_request(int rank, int error, uint32_t epoch, const std::string& text);
  void start_deferred();
  void drop_deferred(int error, const std::string& text);
  void on_rank_message(int rank, const Frame& f, const std::vector<char>& body);
  void advance();
  void fail(int error, const std::string& why);
  void rank_gone(int rank, const std::string& why);
  void report_progress();
  Progress progress() const;
  // the stages
  void gather();
  bool converged() const;
  void quiesce();
  void drain_round();
  void write_images();
  void link_images();
  void commit();
  void remove_files();
  void late_linked(int rank, uint32_t epoch);
  void finish(Outcome o);
};

}  // namespace crmpi::coord
