// job.cpp -- crmpirun's main loop with the coordinator and the job control
// socket (crmpi/job_control.h).
//
// Table of contents:
//   start_coordinator  the job secret (getrandom), the coordinator, and
//                      CRMPI_COORD / CRMPI_JOB_SECRET for mpirun's -x
//   run_loop           poll mpirun's pidfd, the coordinator, the control
//                      socket; periodic checkpoints; --keep; --term/--kill
//   kill_descendants   end mpirun and the ranks (after --term/--kill)
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <set>

#include "crmpi/coord_wire.h"
#include "crmpi/job_control.h"
#include "crmpi/procstat.h"
#include "job.h"
#include "die_of_signal.h"

namespace crmpirun {
namespace co = crmpi::coord;

namespace {

long now_s() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec;
}

// pid -> parent pid of every process.
std::map<pid_t, pid_t> parents() {
  std::map<pid_t, pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (const dirent* e = readdir(d)) {
    const pid_t pid = atoi(e->d_name);
    if (pid <= 0) continue;
    char buf[512];
    uint64_t ppid = 0;
    if (crmpi::procstat::read(pid, buf, sizeof buf) && crmpi::procstat::field(buf, 4, &ppid)) out[pid] = static_cast<pid_t>(ppid);
  }
  closedir(d);
  return out;
}

// A committed --term/--kill: the job ends as the checkpointed process would
// under BLCR, and crmpirun dies of the same signal.
[[noreturn]] void end_job(int sig) {
  kill_descendants(sig);
  crtools::die_of_signal(sig);
}

}  // namespace

void kill_descendants(int sig) {
  for (int round = 0; round < 3; ++round) {
    const std::map<pid_t, pid_t> pp = parents();
    std::set<pid_t> ours = {getpid()};
    for (bool grew = true; grew;) {  // the transitive children
      grew = false;
      for (const auto& [pid, ppid] : pp)
        if (ours.count(ppid) && ours.insert(pid).second) grew = true;
    }
    ours.erase(getpid());
    for (pid_t p : ours) {
      kill(p, sig);
      if (sig == SIGTERM) kill(p, SIGCONT);  // a stopped rank must see it
    }
    if (ours.empty()) break;
    for (int i = 0; i < 100 && waitpid(-1, nullptr, WNOHANG) >= 0; ++i) usleep(20000);
  }
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

namespace {
int g_end_signal = 0;  // a committed --term/--kill checkpoint: the signal to end with
}  // namespace

bool start_coordinator(co::Coordinator* c, co::CoordinatorConfig cfg, const JobOptions& o) {
  // Whoever asked (cr_checkpoint, a rank, the timer): --keep prunes older
  // checkpoints; the job ends after a committed --term/--kill, and crmpirun
  // dies of that signal (run_loop).
  cfg.on_committed = [job = cfg.job, keep = o.keep](const co::Outcome& out, uint32_t after) {
    prune_checkpoints(out.dir, job, keep);
    if (after == co::kAfterTerm) g_end_signal = SIGTERM;
    if (after == co::kAfterKill) g_end_signal = SIGKILL;
  };
  if (!co::random_bytes(cfg.secret, sizeof cfg.secret)) {
    fprintf(stderr, "crmpirun: cannot make the job secret: %s\n", strerror(errno));
    return false;
  }
  std::string err;
  if (!c->start(cfg, &err)) {
    fprintf(stderr, "crmpirun: cannot start the checkpoint coordinator: %s\n", err.c_str());
    return false;
  }
  setenv("CRMPI_COORD", c->address().c_str(), 1);
  setenv("CRMPI_JOB_SECRET", co::secret_hex(cfg.secret).c_str(), 1);
  return true;
}

// Waits for mpirun while serving checkpoints; returns its wait status.
int run_loop(pid_t mpirun, co::Coordinator* c, const JobOptions& o) {
  crmpi::jobctl::JobControlServer ctl;
  std::string err;
  if (!ctl.listen(&err))
    fprintf(stderr, "crmpirun: warning: no job control socket (cr_checkpoint will not reach this "
                    "job): %s\n", err.c_str());
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, mpirun, 0));
  long next_periodic = o.every_s > 0 ? now_s() + o.every_s : -1;
  for (;;) {
    struct pollfd p[3] = {{pidfd, POLLIN, 0}, {c->fd(), POLLIN, 0}, {ctl.fd(), POLLIN, 0}};
    int timeout = c->next_timeout_ms();
    if (pidfd < 0 && (timeout < 0 || timeout > 100)) timeout = 100;  // no pidfd: poll waitpid
    if (next_periodic >= 0) {
      const long left = (next_periodic - now_s()) * 1000;
      if (timeout < 0 || left < timeout) timeout = left < 0 ? 0 : static_cast<int>(left);
    }
    const int n = poll(p, 3, timeout);
    if (n < 0 && errno != EINTR) perror("crmpirun: poll");
    c->step(0);
    ctl.step(*c);
    if (g_end_signal) {
      ctl.close();
      end_job(g_end_signal);
    }
    if (next_periodic >= 0 && now_s() >= next_periodic) {
      next_periodic = now_s() + o.every_s;
      co::CheckpointRequest req;  // in the default folder (config.checkpoint_parent)
      req.on_done = [](const co::Outcome& out) {
        if (out.committed && getenv("CRMPI_VERBOSE"))
          fprintf(stderr, "crmpirun: checkpoint %u committed: %s\n", out.epoch,
                  out.manifest_path.c_str());
      };
      if (!c->request_checkpoint(req, &err) && getenv("CRMPI_VERBOSE"))
        fprintf(stderr, "crmpirun: periodic checkpoint skipped: %s\n", err.c_str());
    }
    int st;
    const pid_t w = waitpid(mpirun, &st, WNOHANG);
    if (w == mpirun) {
      if (c->busy()) c->abandon("mpirun exited");
      ctl.close();
      if (pidfd >= 0) close(pidfd);
      return st;
    }
  }
}

}  // namespace crmpirun
