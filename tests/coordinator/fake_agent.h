// fake_agent.h -- a test client that speaks the agent's side of
// crmpi/coord_protocol.h through AgentLink, with no MPI: it simulates a
// rank's collective sequence numbers, point-to-point counts and image.
// Used by coord_test.cpp and bench/coord.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "crmpi/coord_client.h"

namespace crmpi::coord::testing {

// What a fake rank does at a checkpoint.
struct Script {
  std::map<uint64_t, uint64_t> seqs;  // comm id -> collectives entered
  // On the first Targets, enter one more collective on this comm (it was
  // already inside it at the gather): the targets must rise.
  uint64_t late_comm = 0;
  uint64_t sent = 0, received = 0;  // point-to-point counts at the Quiesce
  uint64_t in_flight_to_me = 0;     // messages it receives, one per DrainStep
  size_t image_bytes = 64;          // written only if write_image
  bool write_image = true;
  Type fail_on = Type(0);        // answer this message with Failed
  Type hang_up_on = Type(0);     // close the connection on this message
  Type ignore = Type(0);         // never answer this message (timeouts)
  // Handle Link only after the Abort that follows it: name the image then
  // and answer Linked (a real agent whose Link was on the wire when the
  // coordinator abandoned the checkpoint).
  bool link_after_abort = false;
  // Inside a group collective (MPI_Comm_create_group) for this many Seqs
  // answers, the Intent's first; then out of it, which it reports at once.
  int group_collective_answers = 0;
};

class FakeAgent {
 public:
  FakeAgent(int rank, Script s) : rank_(rank), s_(std::move(s)) {}

  bool connect(const std::string& addr, const uint8_t secret[kSecretBytes], int nranks,
               std::string* err, uint32_t version = kVersion) {
    Hello h = {};
    h.version = version;
    h.rank = static_cast<uint32_t>(rank_);
    h.nranks = static_cast<uint32_t>(nranks);
    h.agent_pid = getpid();
    h.app_pid = 100000 + rank_;
    strcpy(h.host, "testhost");
    return link_.connect(addr.c_str(), secret, h, err);
  }
  int fd() const { return link_.fd(); }
  bool closed() const { return link_.fd() < 0; }

  // Answers everything that arrived.  False once the link is closed.
  bool pump() {
    Frame f;
    std::vector<char> body;
    while (link_.fd() >= 0) {
      const int got = link_.recv(&f, &body);
      if (got < 0) return link_.close(), false;
      if (got == 0) return true;
      on_message(f, body);
    }
    return false;
  }

  // The application asks for a job checkpoint (crmpi_request_checkpoint).
  bool request(uint32_t after) {
    Request r = {};
    r.after = after;
    return link_.send(kRequest, 0, &r, sizeof r);
  }

  // What it saw.
  std::vector<Type> seen;
  std::vector<RequestDone> request_done;  // answers to our requests
  std::string abort_reason;
  int commit_after = -1;
  std::string image_path;
  int drain_steps = 0;
  uint32_t max_round = 0;
  std::vector<uint32_t> holds;   // each Targets' hold, in order
  bool quiesced_inside = false;  // a Quiesce came while it was inside

 private:
  void reply_seqs(uint32_t epoch, uint32_t round) {
    const bool inside = s_.group_collective_answers > 0;
    send_seqs(epoch, round, inside);
    if (inside && --s_.group_collective_answers == 0) send_seqs(epoch, round, false);
  }
  void send_seqs(uint32_t epoch, uint32_t round, bool inside) {
    bool ready = !inside;
    for (auto& [id, seq] : s_.seqs)
      if (targets_.count(id) && targets_[id] != seq) ready = false;
    std::vector<char> b(sizeof(Seqs) + s_.seqs.size() * sizeof(CommSeq));
    Seqs sq = {static_cast<uint32_t>(s_.seqs.size()), ready ? 1u : 0u, round, inside ? 1u : 0u};
    memcpy(b.data(), &sq, sizeof sq);
    size_t i = 0;
    for (auto& [id, seq] : s_.seqs) {
      CommSeq c = {id, seq};
      memcpy(b.data() + sizeof sq + i++ * sizeof c, &c, sizeof c);
    }
    link_.send(kSeqs, epoch, b.data(), b.size());
  }

  void on_message(const Frame& f, const std::vector<char>& body) {
    const Type t = static_cast<Type>(f.type);
    seen.push_back(t);
    last_epoch_ = f.epoch;
    if (t == s_.hang_up_on) return link_.close();
    if (t == s_.ignore) return;
    if (t == s_.fail_on) {
      Failed x = {};
      x.error = ENOSPC;
      snprintf(x.text, sizeof x.text, "cannot write the image of rank %d", rank_);
      link_.send(kFailed, f.epoch, &x, sizeof x);
      return;
    }
    switch (t) {
      case kIntent: {
        Intent in;
        memcpy(&in, body.data(), sizeof in);
        image_path = std::string(in.dir) + "/" + in.image_name;
        targets_.clear();
        return reply_seqs(f.epoch, 0);
      }
      case kTargets: {
        Targets tg;
        memcpy(&tg, body.data(), sizeof tg);
        max_round = tg.round;
        holds.push_back(tg.hold);
        for (uint32_t i = 0; i < tg.count; ++i) {
          CommSeq c;
          memcpy(&c, body.data() + sizeof tg + i * sizeof c, sizeof c);
          targets_[c.comm_id] = c.seq;
        }
        if (s_.late_comm && !late_done_) {
          late_done_ = true;
          ++s_.seqs[s_.late_comm];  // was inside this collective at the gather
        } else {
          for (auto& [id, seq] : s_.seqs)  // run up to the targets
            if (targets_.count(id) && seq < targets_[id]) seq = targets_[id];
        }
        return reply_seqs(f.epoch, tg.round);
      }
      case kQuiesce: {
        if (s_.group_collective_answers > 0) quiesced_inside = true;
        Quiesced q = {};
        link_.send(kQuiesced, f.epoch, &q, sizeof q);
        return;
      }
      case kDrainStep: {
        ++drain_steps;
        if (s_.in_flight_to_me) --s_.in_flight_to_me, ++s_.received;
        Counts c = {s_.sent, s_.received};
        link_.send(kCounts, f.epoch, &c, sizeof c);
        return;
      }
      case kDrainDone: return write();
      case kRequestDone: {
        RequestDone d;
        memcpy(&d, body.data(), sizeof d);
        request_done.push_back(d);
        return;
      }
      case kLink: {
        if (s_.link_after_abort) return void(link_pending_ = f.epoch);
        Linked l = {};
        link_.send(kLinked, f.epoch, &l, sizeof l);
        return;
      }
      case kCommit: {
        Commit c;
        memcpy(&c, body.data(), sizeof c);
        commit_after = static_cast<int>(c.after);
        return;
      }
      case kAbort: {
        Abort a;
        memcpy(&a, body.data(), sizeof a);
        a.reason[sizeof a.reason - 1] = '\0';
        abort_reason = a.reason;
        if (link_pending_ == f.epoch) {  // the late link: the image gets its name again
          link_pending_ = 0;
          const int fd = open(image_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
          if (fd >= 0) close(fd);
          Linked l = {};
          link_.send(kLinked, f.epoch, &l, sizeof l);
        }
        return;
      }
      default:
        return;
    }
  }

  void write() {
    Written w = {static_cast<uint64_t>(s_.image_bytes), 0x1234567800000000ull + rank_};
    if (s_.write_image) {
      const int fd = open(image_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) {
        std::string data(s_.image_bytes, static_cast<char>('a' + rank_ % 26));
        if (write_all(fd, data) && fsync(fd) == 0) w.image_bytes = data.size();
        close(fd);
      }
    }
    link_.send(kWritten, epoch_of_last(), &w, sizeof w);
  }
  static bool write_all(int fd, const std::string& d) {
    return ::write(fd, d.data(), d.size()) == static_cast<ssize_t>(d.size());
  }
  uint32_t epoch_of_last() const { return last_epoch_; }

 private:
  int rank_;
  Script s_;
  AgentLink link_;
  std::map<uint64_t, uint64_t> targets_;
  bool late_done_ = false;
  uint32_t last_epoch_ = 0;
  uint32_t link_pending_ = 0;  // the epoch of a Link held back (link_after_abort)
};

}  // namespace crmpi::coord::testing
