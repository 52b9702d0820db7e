// cr_checkpoint_job.cpp -- checkpoint a whole crmpirun job over its job
// control socket.  See cr_checkpoint_job.h and crmpi/job_control.h.
#include "cr_checkpoint_job.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crmpi/job_control.h"

namespace crtools {
namespace {

double now_s() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec / 1e9;
}

// Short names of coord::Stage for the progress line (the tool does not
// link the coordinator).
const char* stage_text(uint32_t s) {
  using crmpi::coord::Stage;
  switch (static_cast<Stage>(s)) {
    case Stage::kGather: return "reaching a safe point";
    case Stage::kQuiesce: return "pausing";
    case Stage::kDrain: return "draining messages";
    case Stage::kWrite: return "writing";
    case Stage::kLink: return "syncing";
    case Stage::kCommit: return "committed";
    default: return "starting";
  }
}

void show(const crmpi::jobctl::WireReply& r, double t0) {
  const double secs = now_s() - t0;
  fprintf(stderr, "\r\033[Kcr_checkpoint: epoch %u: %s: paused %u/%u, written %u/%u, %.2f GB, %.2f GB/s",
          r.epoch, stage_text(r.stage), r.paused, r.nranks, r.written, r.nranks, r.bytes / 1e9,
          secs > 0 ? r.bytes / 1e9 / secs : 0.0);
}

}  // namespace

bool is_job(pid_t pid, const crctl::ProcIds& ids) {
  struct sockaddr_un a;
  if (!crctl::socket_address(ids.uid[1], pid, &a, crctl::kSocketJob)) return false;
  struct stat st;
  return stat(a.sun_path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int checkpoint_job(pid_t pid, const crctl::ProcIds& ids, const std::string& dir, unsigned after,
                   unsigned timeout_s, bool quiet, int sigfd) {
  crmpi::jobctl::WireRequest w = {};
  w.magic = crmpi::jobctl::kRequestMagic;
  w.version = crmpi::jobctl::kVersion;
  w.after = after;
  w.timeout_s = timeout_s;
  if (!dir.empty()) {
    // Relative to our folder; crmpirun makes it (0700) if missing.
    char cwd[PATH_MAX];
    const std::string abs = dir[0] == '/' ? dir : std::string(getcwd(cwd, sizeof cwd) ? cwd : ".") + "/" + dir;
    if (abs.size() >= sizeof w.dir) {
      fprintf(stderr, "cr_checkpoint: folder name too long: %s\n", dir.c_str());
      return 2;
    }
    memcpy(w.dir, abs.c_str(), abs.size() + 1);
  }
  crctl::ConnectProblem why;
  const int s = crctl::connect_target(pid, ids, &why, crctl::kSocketJob);
  if (s < 0) {
    if (s == -EPERM)
      fprintf(stderr, "cr_checkpoint: refusing to talk to job %d: its control socket %s is held by "
                      "process %d, not by it; nothing was sent\n", pid, why.path, why.impostor_pid);
    else
      fprintf(stderr, "cr_checkpoint: cannot reach the job control socket of crmpirun %d: %s\n", pid,
              strerror(-s));
    return 1;
  }
  if (send(s, &w, sizeof w, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof w)) {
    fprintf(stderr, "cr_checkpoint: cannot send the request to crmpirun %d: %s\n", pid, strerror(errno));
    return 1;
  }
  const bool tty = !quiet && isatty(2);
  const double t0 = now_s();
  crmpi::jobctl::WireReply r = {};
  for (;;) {
    struct pollfd p[2] = {{s, POLLIN, 0}, {sigfd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0 && errno == EINTR) continue;
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      const int sig = read(sigfd, &si, sizeof si) == sizeof si ? static_cast<int>(si.ssi_signo) : SIGINT;
      close(s);  // the job abandons the checkpoint and goes on
      fprintf(stderr, "%scr_checkpoint: interrupted by signal %d: checkpoint abandoned; job %d goes on\n",
              tty ? "\n" : "", sig, pid);
      return 128 + sig;
    }
    const ssize_t n = recv(s, &r, sizeof r, 0);
    if (n != static_cast<ssize_t>(sizeof r) || r.magic != crmpi::jobctl::kReplyMagic) {
      fprintf(stderr, "%scr_checkpoint: crmpirun %d went away during the checkpoint\n", tty ? "\n" : "", pid);
      return 1;
    }
    if (r.kind == crmpi::jobctl::kFinal) break;
    if (tty) show(r, t0);
  }
  close(s);
  r.text[sizeof r.text - 1] = '\0';
  r.manifest[sizeof r.manifest - 1] = '\0';
  if (tty) fputc('\n', stderr);
  if (r.status != 0) {
    fprintf(stderr, "cr_checkpoint: job %d: %s\n", pid, r.text);
    return 1;
  }
  if (!quiet)
    fprintf(stderr, "cr_checkpoint: job %d checkpointed (epoch %u, %llu bytes, %.2f s)\n", pid, r.epoch,
            static_cast<unsigned long long>(r.bytes), now_s() - t0);
  printf("%s\n", r.manifest);
  return 0;
}

}  // namespace crtools
