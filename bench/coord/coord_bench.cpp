// coord_bench [NRANKS] [RUNS] -- the coordinator's protocol time for one
// checkpoint round: from the request (Intent) to the Commit, with NRANKS
// fake agents (tests/coordinator/fake_agent.h), each with its own TCP
// connection, driven by one epoll loop in this process; the coordinator runs
// in its own thread.  No image I/O (the agents write nothing); the manifest
// is written, as in a real commit.  Prints each run and the median.
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include "crmpi/coordinator.h"
#include "fake_agent.h"

using namespace crmpi::coord;

namespace {

double now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

void raise_fd_limit(int want) {
  struct rlimit r;
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < static_cast<rlim_t>(want)) {
    r.rlim_cur = std::min<rlim_t>(r.rlim_max, static_cast<rlim_t>(want));
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? atoi(argv[1]) : 1024;
  const int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (n < 1 || runs < 1) {
    fprintf(stderr, "usage: coord_bench [NRANKS] [RUNS]\n");
    return 2;
  }
  raise_fd_limit(2 * n + 64);
  char tmpl[] = "/tmp/coord_bench.XXXXXX";
  const std::string parent = mkdtemp(tmpl);
  CoordinatorConfig cfg;
  cfg.nranks = n;
  random_bytes(cfg.secret, sizeof cfg.secret);
  cfg.checkpoint_parent = parent;
  cfg.bind_host = "127.0.0.1";
  cfg.job.job_name = "bench";
  cfg.job.command = {"bench"};
  cfg.job.mpirun_options = {"-np", std::to_string(n)};
  cfg.job.cwd = parent;
  cfg.job.image_version = 2;  // the manifest needs versions; no image is read
  cfg.job.channel_version = 2;
  cfg.job.protocol_version = kVersion;
  Coordinator c;
  std::string err;
  if (!c.start(cfg, &err)) return fprintf(stderr, "coord_bench: %s\n", err.c_str()), 1;

  std::atomic<int> request{0}, finished{0};
  std::atomic<bool> stop{false};
  std::atomic<double> elapsed{0};
  std::thread coord([&] {
    double t0 = 0;
    while (!stop) {
      if (request.exchange(0)) {
        CheckpointRequest req;
        req.on_done = [&](const Outcome& o) {
          elapsed = now() - t0;
          if (!o.committed) fprintf(stderr, "coord_bench: %s\n", o.text.c_str());
          ++finished;
        };
        t0 = now();
        if (!c.request_checkpoint(req, &err)) fprintf(stderr, "coord_bench: %s\n", err.c_str()), ++finished;
      }
      c.step(1);
    }
  });

  std::vector<std::unique_ptr<testing::FakeAgent>> agents;
  const int ep = epoll_create1(0);
  for (int r = 0; r < n; ++r) {
    testing::Script s;
    s.seqs = {{1, 10}, {2, static_cast<uint64_t>(r % 7)}, {3 + static_cast<uint64_t>(r % 16), 4}};
    s.write_image = false;
    s.sent = s.received = 100;
    agents.push_back(std::make_unique<testing::FakeAgent>(r, s));
    if (!agents.back()->connect(c.address(), cfg.secret, n, &err))
      return fprintf(stderr, "coord_bench: rank %d: %s\n", r, err.c_str()), 1;
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(r);
    epoll_ctl(ep, EPOLL_CTL_ADD, agents.back()->fd(), &ev);
  }
  std::vector<double> times;
  for (int run = 0; run < runs; ++run) {
    const int before = finished;
    request = 1;
    std::vector<struct epoll_event> evs(static_cast<size_t>(n));
    while (finished == before) {
      const int k = epoll_wait(ep, evs.data(), n, 5);
      for (int i = 0; i < k; ++i) agents[evs[static_cast<size_t>(i)].data.u32]->pump();
    }
    times.push_back(elapsed);
    printf("run %d: %.1f ms\n", run + 1, elapsed * 1e3);
    std::filesystem::remove_all(default_checkpoint_dir(parent, "bench", c.next_epoch() - 1));
  }
  stop = true;
  coord.join();
  std::sort(times.begin(), times.end());
  printf("coordinator protocol time, %d simulated ranks, Intent to Commit: median %.1f ms over %d runs\n",
         n, times[times.size() / 2] * 1e3, runs);
  std::filesystem::remove_all(parent);
  return 0;
}
