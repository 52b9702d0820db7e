// coord_test.cpp -- the coordinator driven by fake agents (fake_agent.h)
// over real TCP connections: whole checkpoints, target convergence, drain
// rounds, every failure path, the handshake's checks, the frame parser
// under fuzzing, and the job control socket's requester.  No MPI.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "control.h"
#include "crmpi/coordinator.h"
#include "crmpi/job_control.h"
#include "crmpi/manifest.h"
#include "fake_agent.h"

namespace crmpi::coord {
namespace {

using testing::FakeAgent;
using testing::Script;
namespace fs = std::filesystem;

long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

std::string temp_dir() {
  char t[] = "/tmp/coord_test.XXXXXX";
  return mkdtemp(t);
}

// A coordinator and N fake agents, all driven from the test's thread once
// connected.
struct Harness {
  Coordinator c;
  CoordinatorConfig cfg;
  std::vector<std::unique_ptr<FakeAgent>> agents;
  std::vector<std::string> logs;
  std::string parent = temp_dir();
  std::optional<Outcome> outcome;
  std::vector<Progress> progress;

  explicit Harness(std::vector<Script> scripts, uint32_t first_epoch = 1) {
    cfg.nranks = static_cast<int>(scripts.size());
    for (size_t i = 0; i < kSecretBytes; ++i) cfg.secret[i] = static_cast<uint8_t>(i * 7 + 1);
    cfg.first_epoch = first_epoch;
    cfg.checkpoint_parent = parent;
    cfg.bind_host = "127.0.0.1";
    cfg.job.job_name = "app";
    cfg.job.command = {"./app", "--size", "3"};
    cfg.job.mpirun_options = {"-np", std::to_string(scripts.size())};
    cfg.job.cwd = parent;
    cfg.job.environment = {{"CRMPI_X", "1"}};
    cfg.job.image_version = 2;
    cfg.job.channel_version = 2;
    cfg.job.protocol_version = kVersion;
    cfg.log = [this](const std::string& s) { logs.push_back(s); };
    std::string err;
    EXPECT_TRUE(c.start(cfg, &err)) << err;
    for (size_t r = 0; r < scripts.size(); ++r)
      agents.push_back(std::make_unique<FakeAgent>(static_cast<int>(r), scripts[r]));
  }
  ~Harness() { fs::remove_all(parent); }

  // Connects agents [from, to) (in a thread: the handshake needs the
  // coordinator); by default every agent.
  void connect_all(size_t from = 0, size_t to = SIZE_MAX) {
    to = std::min(to, agents.size());
    std::atomic<bool> done{false};
    std::thread t([&] {
      for (size_t r = from; r < to; ++r) {
        std::string err;
        EXPECT_TRUE(agents[r]->connect(c.address(), cfg.secret, cfg.nranks, &err)) << err;
      }
      done = true;
    });
    while (!done) c.step(5);
    t.join();
    c.step(0);
    if (to == agents.size()) {
      ASSERT_EQ(c.connected_ranks(), cfg.nranks);
    }
  }

  // Steps everything until agent r has had n answers to its requests.
  void run_until_answered(size_t r, size_t n = 1, long ms = 15000) {
    const long end = now_ms() + ms;
    while (agents[r]->request_done.size() < n && now_ms() < end) {
      c.step(2);
      for (auto& a : agents) a->pump();
    }
  }

  CheckpointRequest request(std::string dir = "", uint32_t timeout_s = 10) {
    CheckpointRequest r;
    r.dir = dir;
    r.timeout_s = timeout_s;
    r.on_done = [this](const Outcome& o) { outcome = o; };
    r.on_progress = [this](const Progress& p) { progress.push_back(p); };
    return r;
  }

  // A checkpoint into the default folder, run to its end: true once it
  // committed (else the outcome's text is in *why).
  bool commit(std::string* why) {
    outcome.reset();
    if (!c.request_checkpoint(request(), why)) return false;
    run();
    if (outcome && outcome->committed) return true;
    *why = outcome ? outcome->text : "no outcome";
    return false;
  }

  // Steps everything until the outcome is known (at most @ms).
  void run(long ms = 15000) {
    const long end = now_ms() + ms;
    while (!outcome && now_ms() < end) {
      c.step(2);
      for (auto& a : agents) a->pump();
    }
    for (int i = 0; i < 20; ++i) {  // let the last messages (Commit, Abort) land
      c.step(1);
      for (auto& a : agents) a->pump();
    }
  }
  bool logged(const std::string& what) const {
    for (const auto& l : logs)
      if (l.find(what) != std::string::npos) return true;
    return false;
  }
};

std::vector<Script> plain(int n) {
  std::vector<Script> v(static_cast<size_t>(n));
  for (auto& s : v) s.seqs = {{1, 5}, {2, 3}}, s.sent = 4, s.received = 4;
  return v;
}

TEST(Coordinator, FullCheckpointOfFourRanks) {
  Harness h(plain(4));
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request(), &err)) << err;
  h.run();
  ASSERT_TRUE(h.outcome);
  ASSERT_TRUE(h.outcome->committed) << h.outcome->text;
  EXPECT_EQ(h.outcome->epoch, 1u);
  EXPECT_EQ(h.outcome->dir, h.parent + "/app.ckpt.1");
  struct stat st;
  ASSERT_EQ(stat(h.outcome->dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  const manifest::Manifest m = manifest::read(h.outcome->manifest_path);
  EXPECT_EQ(m.epoch, 1u);
  EXPECT_EQ(m.command, h.cfg.job.command);
  EXPECT_EQ(m.mpirun_options, h.cfg.job.mpirun_options);
  EXPECT_EQ(m.protocol_version, kVersion);
  ASSERT_EQ(m.ranks.size(), 4u);
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(m.ranks[r].rank, r);
    EXPECT_EQ(m.ranks[r].image, "rank." + std::to_string(r) + ".e1.img");
    EXPECT_EQ(m.ranks[r].bytes, 64u);
    EXPECT_EQ(m.ranks[r].digest, 0x1234567800000000ull + r);
    EXPECT_EQ(m.ranks[r].host, "testhost");
    EXPECT_EQ(m.ranks[r].app_pid, 100000 + r);
    EXPECT_TRUE(fs::exists(h.outcome->dir + "/" + m.ranks[r].image));
    EXPECT_EQ(h.agents[r]->commit_after, static_cast<int>(kAfterContinue));
  }
  ASSERT_FALSE(h.progress.empty());
  EXPECT_EQ(h.progress.back().stage, Stage::kCommit);
  EXPECT_EQ(h.progress.back().written, 4);
  EXPECT_EQ(h.progress.back().bytes, 256u);
  EXPECT_FALSE(h.c.busy());
  // The next checkpoint gets the next epoch.
  h.outcome.reset();
  ASSERT_TRUE(h.c.request_checkpoint(h.request(), &err)) << err;
  h.run();
  ASSERT_TRUE(h.outcome && h.outcome->committed) << (h.outcome ? h.outcome->text : "none");
  EXPECT_EQ(h.outcome->epoch, 2u);
}

// The same program run again in the same folder: the default folders of
// the earlier run (a checkpoint, and an empty one) are left alone, and the
// epochs they hold are skipped.
TEST(Coordinator, DefaultFolderSkipsTheEpochsOfAnEarlierRun) {
  Harness h(plain(2));
  fs::create_directory(h.parent + "/app.ckpt.1");
  { std::ofstream(h.parent + "/app.ckpt.1/job.manifest.json") << "{}"; }
  fs::create_directory(h.parent + "/app.ckpt.2");
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.commit(&err)) << err;
  EXPECT_EQ(h.outcome->epoch, 3u);
  EXPECT_EQ(h.outcome->dir, h.parent + "/app.ckpt.3");
  EXPECT_TRUE(fs::exists(h.parent + "/app.ckpt.3/rank.1.e3.img"));
  EXPECT_TRUE(fs::is_empty(h.parent + "/app.ckpt.2"));
  EXPECT_EQ(fs::file_size(h.parent + "/app.ckpt.1/job.manifest.json"), 2u);
  ASSERT_TRUE(h.commit(&err)) << err;
  EXPECT_EQ(h.outcome->epoch, 4u);
}

TEST(Coordinator, TargetsRiseUntilEveryRankConverges) {
  std::vector<Script> s = plain(4);
  s[0].seqs = {{1, 7}, {2, 3}};
  s[1].seqs = {{1, 4}};  // behind on comm 1; not a member of comm 2
  s[2].seqs = {{1, 7}, {2, 1}};
  s[3].seqs = {{1, 7}, {2, 3}};
  s[3].late_comm = 2;  // was inside collective 4 of comm 2: targets rise
  Harness h(s);
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request(), &err)) << err;
  h.run();
  ASSERT_TRUE(h.outcome && h.outcome->committed) << (h.outcome ? h.outcome->text : "none");
  for (auto& a : h.agents) EXPECT_GE(a->max_round, 2u);  // a second Targets round went out
}

// A rank inside MPI_Comm_create_group cannot pause, and the group's other
// members may be parked at their targets: while it says it is inside, the
// Targets lift every hold, and no Quiesce goes out; once it is out they
// hold again and the checkpoint completes.
TEST(Coordinator, NoHoldWhileARankIsInsideAGroupCollective) {
  std::vector<Script> s = plain(3);
  for (auto& x : s) x.seqs = {{1, 5}};
  s[1].group_collective_answers = 2;  // the Intent's answer and the first round
  Harness h(s);
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.commit(&err)) << err;
  for (auto& a : h.agents) {
    EXPECT_FALSE(a->quiesced_inside);
    ASSERT_GE(a->holds.size(), 2u);
    EXPECT_EQ(a->holds.front(), 0u);  // rank 1 was inside from the start
    EXPECT_EQ(a->holds.back(), 1u);   // the safe point is reached holding
  }
}

// A rank that leaves a group collective holds again at once; while another
// is still inside one, the coordinator must tell it again that nobody
// holds (it may be a member of the other's), with a new round.
TEST(Coordinator, ALeaveWhileAnotherIsInsideStillHoldsNobody) {
  std::vector<Script> s = plain(3);
  for (auto& x : s) x.seqs = {{1, 5}};
  s[1].group_collective_answers = 2;  // leaves after answering round 1
  s[2].group_collective_answers = 3;  // needs one more round to answer
  Harness h(s);
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.commit(&err)) << err;
  const std::vector<uint32_t> want = {0, 0, 1};
  for (auto& a : h.agents) {
    EXPECT_EQ(a->holds, want);
    EXPECT_FALSE(a->quiesced_inside);
  }
}

TEST(Coordinator, DrainRoundsUntilCountsBalance) {
  std::vector<Script> s = plain(4);
  s[0].sent = 10;
  s[1].received = 1;
  s[1].in_flight_to_me = 3;  // 4 + 10 sent in all... see below
  s[2].received = 7;
  s[2].in_flight_to_me = 3;
  // sent 4+10+4+4 = 22; received 4+1+7+4 = 16 at first; 3 rounds bring 6.
  Harness h(s);
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request(), &err)) << err;
  h.run();
  ASSERT_TRUE(h.outcome && h.outcome->committed) << (h.outcome ? h.outcome->text : "none");
  EXPECT_EQ(h.agents[0]->drain_steps, 3);  // each round brings 2 of the 6 in flight
}

TEST(Coordinator, FailedRankAbortsEveryRankAndRemovesOnlyItsFiles) {
  std::vector<Script> s = plain(4);
  s[2].fail_on = kLink;  // every image written, then rank 2 fails
  Harness h(s);
  h.connect_all();
  const std::string dir = h.parent + "/given";
  fs::create_directory(dir);
  { FILE* f = fopen((dir + "/keep.txt").c_str(), "w"); fputs("mine", f); fclose(f); }
  { FILE* f = fopen((dir + "/rank.0.e0.img").c_str(), "w"); fclose(f); }  // another epoch's
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request(dir), &err)) << err;
  h.run();
  ASSERT_TRUE(h.outcome);
  EXPECT_FALSE(h.outcome->committed);
  EXPECT_NE(h.outcome->text.find("rank 2 failed"), std::string::npos) << h.outcome->text;
  EXPECT_EQ(h.outcome->error, ENOSPC);
  for (auto& a : h.agents) EXPECT_NE(a->abort_reason.find("rank 2"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir + "/keep.txt"));
  EXPECT_TRUE(fs::exists(dir + "/rank.0.e0.img"));
  for (int r = 0; r < 4; ++r) EXPECT_FALSE(fs::exists(dir + "/rank." + std::to_string(r) + ".e1.img"));
  EXPECT_FALSE(fs::exists(dir + "/job.manifest.json"));
  // The job goes on: the next attempt has the next epoch and a made folder
  // that is removed on failure.
  h.outcome.reset();
  ASSERT_TRUE(h.c.request_checkpoint(h.request(), &err)) << err;
  h.run();
  ASSERT_TRUE(h.outcome);
  EXPECT_EQ(h.outcome->epoch, 2u);
  EXPECT_FALSE(fs::exists(h.parent + "/app.ckpt.2"));
}

// Rank 2 fails at the Link while rank 0's Link is still being handled: the
// image rank 0 names after the coordinator's cleanup must go too (its late
// Linked says so).  The folder is the user's (-f DIR, existing): a folder
// the coordinator made is gone by then, and the late link fails.
TEST(Coordinator, ImageLinkedAfterTheAbortIsRemoved) {
  std::vector<Script> s = plain(3);
  s[2].fail_on = kLink;
  s[0].link_after_abort = true;
  Harness h(s);
  h.connect_all();
  const std::string dir = h.parent + "/given";
  fs::create_directory(dir);
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request(dir), &err)) << err;
  h.run();
  ASSERT_TRUE(h.outcome);
  EXPECT_FALSE(h.outcome->committed);
  EXPECT_NE(std::find(h.agents[0]->seen.begin(), h.agents[0]->seen.end(), kAbort), h.agents[0]->seen.end());
  EXPECT_FALSE(fs::exists(dir + "/rank.0.e1.img")) << "an abandoned checkpoint's image is left behind";
  EXPECT_TRUE(fs::exists(dir));
}

TEST(Coordinator, RankDisconnectingMidCheckpointAbortsIt) {
  std::vector<Script> s = plain(4);
  s[1].hang_up_on = kQuiesce;
  Harness h(s);
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request(), &err)) << err;
  h.run();
  ASSERT_TRUE(h.outcome);
  EXPECT_FALSE(h.outcome->committed);
  EXPECT_NE(h.outcome->text.find("rank 1 disconnected"), std::string::npos) << h.outcome->text;
  for (int r : {0, 2, 3}) EXPECT_FALSE(h.agents[r]->abort_reason.empty());
  EXPECT_FALSE(fs::exists(h.outcome->dir));
}

TEST(Coordinator, TimeoutNamesTheSlowRank) {
  std::vector<Script> s = plain(4);
  s[3].ignore = kDrainDone;
  Harness h(s);
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request("", 1), &err)) << err;
  const long t0 = now_ms();
  h.run();
  ASSERT_TRUE(h.outcome);
  EXPECT_FALSE(h.outcome->committed);
  EXPECT_EQ(h.outcome->error, ETIMEDOUT);
  EXPECT_NE(h.outcome->text.find("rank(s) 3"), std::string::npos) << h.outcome->text;
  EXPECT_LT(now_ms() - t0, 5000);
  for (int r = 0; r < 3; ++r) EXPECT_FALSE(fs::exists(h.agents[r]->image_path));
  EXPECT_FALSE(h.agents[0]->abort_reason.empty());
}

TEST(Coordinator, SecondRequestWhileOneRunsIsRefused) {
  Harness h(plain(2));
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request(), &err)) << err;
  h.c.step(0);
  EXPECT_FALSE(h.c.request_checkpoint(h.request(), &err));
  EXPECT_EQ(err, "a checkpoint (epoch 1) is already in progress");
  h.run();
  ASSERT_TRUE(h.outcome && h.outcome->committed);
}

TEST(Coordinator, RefusedUntilEveryRankConnected) {
  Harness h(plain(3));
  std::string err;
  EXPECT_FALSE(h.c.request_checkpoint(h.request(), &err));
  EXPECT_NE(err.find("only 0 of 3 ranks"), std::string::npos) << err;
  EXPECT_EQ(h.c.next_epoch(), 1u);
}

TEST(Coordinator, RankRequestIsAnsweredOnceItsCheckpointCommitted) {
  Harness h(plain(3));
  h.connect_all();
  ASSERT_TRUE(h.agents[1]->request(kAfterContinue));
  h.run_until_answered(1);
  ASSERT_EQ(h.agents[1]->request_done.size(), 1u);
  EXPECT_EQ(h.agents[1]->request_done[0].error, 0);
  EXPECT_EQ(h.agents[1]->request_done[0].epoch, 1u);
  EXPECT_TRUE(h.logged("checkpoint 1 requested by rank 1 committed"));
  for (int r : {0, 2}) EXPECT_TRUE(h.agents[r]->request_done.empty());  // only the requester
  EXPECT_EQ(h.agents[0]->commit_after, static_cast<int>(kAfterContinue));
}

TEST(Coordinator, RankRequestWhileOneRunsIsAnsweredAtOnce) {
  Harness h(plain(2));
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request(), &err)) << err;
  ASSERT_TRUE(h.agents[0]->request(kAfterContinue));
  h.run_until_answered(0);
  ASSERT_EQ(h.agents[0]->request_done.size(), 1u);
  EXPECT_EQ(h.agents[0]->request_done[0].error, EBUSY);
  EXPECT_EQ(h.agents[0]->request_done[0].epoch, 0u);
  EXPECT_STREQ(h.agents[0]->request_done[0].text, "a checkpoint (epoch 1) is already in progress");
  h.run();
  ASSERT_TRUE(h.outcome && h.outcome->committed);
  EXPECT_EQ(h.agents[0]->request_done.size(), 1u);  // exactly once
}

TEST(Coordinator, RankRequestWaitsForTheLastRankToConnect) {
  Harness h(plain(3));
  h.connect_all(0, 2);
  ASSERT_TRUE(h.agents[0]->request(kAfterContinue));
  for (int i = 0; i < 50; ++i) {
    h.c.step(2);
    for (auto& a : h.agents) a->pump();
  }
  EXPECT_TRUE(h.agents[0]->request_done.empty());
  EXPECT_FALSE(h.c.busy());  // waiting, not started
  h.connect_all(2, 3);
  h.run_until_answered(0);
  ASSERT_EQ(h.agents[0]->request_done.size(), 1u);
  EXPECT_EQ(h.agents[0]->request_done[0].error, 0) << h.agents[0]->request_done[0].text;
  EXPECT_EQ(h.agents[0]->request_done[0].epoch, 1u);
}

TEST(Coordinator, EpochsContinueFromARestartedJob) {
  Harness h(plain(2), 7);
  h.connect_all();
  std::string err;
  ASSERT_TRUE(h.c.request_checkpoint(h.request(), &err)) << err;
  h.run();
  ASSERT_TRUE(h.outcome && h.outcome->committed);
  EXPECT_EQ(h.outcome->epoch, 7u);
  EXPECT_TRUE(fs::exists(h.parent + "/app.ckpt.7/rank.1.e7.img"));
}

// ---- the handshake

// Steps the coordinator while @fn runs in a thread.
template <class F>
void with_coordinator(Harness& h, F fn) {
  std::atomic<bool> done{false};
  std::thread t([&] { fn(); done = true; });
  while (!done) h.c.step(5);
  t.join();
  for (int i = 0; i < 5; ++i) h.c.step(2);
}

TEST(Handshake, WrongSecretIsRejected) {
  Harness h(plain(2));
  with_coordinator(h, [&] {
    uint8_t wrong[kSecretBytes] = {};
    std::string err;
    FakeAgent a(0, Script{});
    EXPECT_FALSE(a.connect(h.c.address(), wrong, 2, &err));
    EXPECT_NE(err.find("refused"), std::string::npos) << err;
  });
  EXPECT_TRUE(h.logged("bad MAC")) << (h.logs.empty() ? "" : h.logs[0]);
  EXPECT_EQ(h.c.connected_ranks(), 0);
}

TEST(Handshake, WrongVersionRankOrDuplicateIsRejected) {
  Harness h(plain(2));
  with_coordinator(h, [&] {
    std::string err;
    FakeAgent v(0, Script{}), big(5, Script{}), ok(1, Script{}), dup(1, Script{});
    EXPECT_FALSE(v.connect(h.c.address(), h.cfg.secret, 2, &err, 99));
    EXPECT_FALSE(big.connect(h.c.address(), h.cfg.secret, 2, &err));
    EXPECT_TRUE(ok.connect(h.c.address(), h.cfg.secret, 2, &err)) << err;
    EXPECT_FALSE(dup.connect(h.c.address(), h.cfg.secret, 2, &err));
  });
  EXPECT_TRUE(h.logged("protocol version 99"));
  EXPECT_TRUE(h.logged("does not fit a job of 2 ranks"));
  EXPECT_TRUE(h.logged("already connected"));
}

TEST(Handshake, AgentRejectsACoordinatorWithoutTheSecret) {
  Harness h(plain(1));
  with_coordinator(h, [&] {
    uint8_t other[kSecretBytes];
    memcpy(other, h.cfg.secret, sizeof other);
    std::string err;
    // The coordinator rejects the Hello first; either way, no link.
    FakeAgent a(0, Script{});
    other[0] ^= 1;
    EXPECT_FALSE(a.connect(h.c.address(), other, 1, &err));
  });
  EXPECT_EQ(h.c.connected_ranks(), 0);
}

int raw_connect(int port) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return s;
}

TEST(Handshake, GarbageIsRejectedAndTheCoordinatorGoesOn) {
  Harness h(plain(1));
  std::mt19937 rng(42);
  for (int round = 0; round < 20; ++round) {
    const int s = raw_connect(h.c.port());
    std::string junk(1 + rng() % 3000, '\0');
    for (char& ch : junk) ch = static_cast<char>(rng());
    if (round % 2) {  // a valid-looking header with a bad length or type
      Frame f = {kFrameMagic, static_cast<uint16_t>(rng() % 40), 0, static_cast<uint32_t>(rng() % 100000), 0};
      memcpy(junk.data(), &f, std::min(sizeof f, junk.size()));
    }
    ASSERT_GT(send(s, junk.data(), junk.size(), MSG_NOSIGNAL), 0);
    for (int i = 0; i < 10; ++i) h.c.step(2);
    close(s);
  }
  for (int i = 0; i < 10; ++i) h.c.step(2);
  EXPECT_TRUE(h.logged("rejected a connection"));
  h.connect_all();  // still serves real agents
}

TEST(Wire, FrameReaderSurvivesFuzzing) {
  std::mt19937 rng(7);
  Seqs sq = {2, 1, 0, 0};
  std::string valid = encode(kSeqs, 1, &sq, sizeof sq) + std::string(32, '\0');
  // fix the frame length for the two CommSeq
  Frame f;
  memcpy(&f, valid.data(), sizeof f);
  f.length = sizeof sq + 32;
  memcpy(valid.data(), &f, sizeof f);
  int good = 0, bad = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string m = valid;
    const int flips = static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) m[rng() % m.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) m.resize(rng() % (m.size() + 1));
    FrameReader r;
    r.feed(m.data(), m.size());
    Frame out;
    std::vector<char> body;
    std::string err;
    const int got = r.next(&out, &body, &err);
    if (got == 1) {
      ++good;
      EXPECT_EQ(body.size(), out.length);
    } else if (got < 0) {
      ++bad;
      EXPECT_FALSE(err.empty());
    }
  }
  EXPECT_GT(good, 0);
  EXPECT_GT(bad, 0);
}

TEST(Wire, ParseSecret) {
  uint8_t s[kSecretBytes];
  const std::string hex(64, 'a');
  EXPECT_TRUE(parse_secret(hex.c_str(), s));
  EXPECT_EQ(s[0], 0xaa);
  EXPECT_EQ(secret_hex(s), hex);
  EXPECT_FALSE(parse_secret(nullptr, s));
  EXPECT_FALSE(parse_secret("abc", s));
  EXPECT_FALSE(parse_secret((std::string(63, 'a') + "g").c_str(), s));
}

// ---- the job control socket

int job_connect() {
  crctl::ProcIds ids;
  EXPECT_EQ(crctl::read_proc_ids(getpid(), &ids), 0);
  crctl::ConnectProblem why;
  return crctl::connect_target(getpid(), ids, &why, crctl::kSocketJob);
}

TEST(JobControl, RequesterGoneBeforeCommitAbandonsTheCheckpoint) {
  std::vector<Script> s = plain(3);
  s[0].ignore = kDrainDone;  // the checkpoint cannot finish on its own
  Harness h(s);
  h.connect_all();
  jobctl::JobControlServer srv;
  std::string err;
  ASSERT_TRUE(srv.listen(&err)) << err;
  const int sock = job_connect();
  ASSERT_GE(sock, 0);
  jobctl::WireRequest w = {jobctl::kRequestMagic, jobctl::kVersion, kAfterContinue, 30, {}};
  ASSERT_EQ(send(sock, &w, sizeof w, 0), static_cast<ssize_t>(sizeof w));
  jobctl::WireReply rep = {};
  for (int i = 0; i < 2000 && rep.paused < 3; ++i) {
    srv.step(h.c);
    h.c.step(1);
    for (auto& a : h.agents) a->pump();
    while (recv(sock, &rep, sizeof rep, MSG_DONTWAIT) == sizeof rep && rep.paused < 3) {
    }
  }
  EXPECT_EQ(rep.kind, jobctl::kProgress);
  EXPECT_EQ(rep.paused, 3u);
  EXPECT_TRUE(h.c.busy());
  close(sock);  // cr_checkpoint killed
  for (int i = 0; i < 50 && h.c.busy(); ++i) {
    srv.step(h.c);
    h.c.step(2);
  }
  EXPECT_FALSE(h.c.busy());
  for (auto& a : h.agents) a->pump();
  EXPECT_NE(h.agents[1]->abort_reason.find("requester"), std::string::npos) << h.agents[1]->abort_reason;
  // A second requester is told a checkpoint is busy while one runs, and a
  // committed one is reported with its manifest.
  srv.close();
}

TEST(JobControl, CommittedCheckpointIsReportedWithItsManifest) {
  Harness h(plain(2));
  h.connect_all();
  jobctl::JobControlServer srv;
  std::string err;
  ASSERT_TRUE(srv.listen(&err)) << err;
  const int sock = job_connect();
  const int second = job_connect();
  ASSERT_GE(sock, 0);
  jobctl::WireRequest w = {jobctl::kRequestMagic, jobctl::kVersion, kAfterStop, 30, {}};
  ASSERT_EQ(send(sock, &w, sizeof w, 0), static_cast<ssize_t>(sizeof w));
  jobctl::WireReply rep = {}, rep2 = {};
  bool sent_second = false;
  for (int i = 0; i < 3000 && rep.kind != jobctl::kFinal; ++i) {
    srv.step(h.c);
    if (h.c.busy() && !sent_second) {
      send(second, &w, sizeof w, 0);
      sent_second = true;
    }
    h.c.step(1);
    for (auto& a : h.agents) a->pump();
    while (rep.kind != jobctl::kFinal && recv(sock, &rep, sizeof rep, MSG_DONTWAIT) == sizeof rep) {
    }
  }
  ASSERT_EQ(rep.kind, jobctl::kFinal);
  EXPECT_EQ(rep.status, 0) << rep.text;
  EXPECT_EQ(std::string(rep.manifest), h.parent + "/app.ckpt.1/job.manifest.json");
  for (auto& a : h.agents) EXPECT_EQ(a->commit_after, static_cast<int>(kAfterStop));
  for (auto& a : h.agents) EXPECT_EQ(a->commit_after, static_cast<int>(kAfterStop));
  ASSERT_EQ(recv(second, &rep2, sizeof rep2, 0), static_cast<ssize_t>(sizeof rep2));
  EXPECT_EQ(rep2.status, EBUSY);
  EXPECT_NE(std::string(rep2.text).find("already in progress"), std::string::npos);
  close(sock);
  close(second);
}

}  // namespace
}  // namespace crmpi::coord
