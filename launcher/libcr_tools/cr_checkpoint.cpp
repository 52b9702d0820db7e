// cr_checkpoint [options] PID -- checkpoint a running libcr process (BLCR's
// cr_checkpoint).
//
// Algorithm (never lose a committed image, never leave a stray one):
//   1. Check the target: it exists, runs, and the caller may checkpoint it
//      (the kernel's ptrace rule; "permission denied" names the owner).
//   2. Block SIGINT/SIGTERM/SIGHUP/SIGQUIT; they are read from a signalfd.
//   3. Open the image as an anonymous file in FILE's folder (O_TMPFILE, mode
//      0600): if we die, it dies with us; nothing is left behind.
//   4. Connect to the target's control socket, check that the listener is
//      the target (pid, uid), send the request with the fd, asking for a
//      commit: the target applies --kill/--stop/--term only after step 6.
//   5. Wait for "written" (the target fsynced the image).  A signal or the
//      timeout before that abandons the checkpoint: the target goes on.
//   6. Commit: fsync, link the file under its name (atomically replacing an
//      older image), fsync the folder, then tell the target.  From here on
//      signals are ignored: the commit cannot be undone.
//   7. Wait until the after-signal took effect (--kill: the target is gone,
//      --stop: it is stopped), so that our exit means it is done.
// The control channel itself is libcr/src/control/control.h.  This tool
// does not load libcr.
//
// When PID is a crmpirun (it has a job control socket "job.<pid>"), the
// whole job is checkpointed instead: cr_checkpoint_job.cpp.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "cli.h"
#include "control.h"
#include "cr_checkpoint_job.h"
#include "crmpi/coord_protocol.h"
#include "crmpi/procstat.h"
#include "libcr.h"
#include "quiet_pipe.h"

namespace {

struct Options {
  std::string file;
  int sig = CR_SIGNAL_NONE;
  long timeout = 0;
  bool compress = false, quiet = false;
  bool file_given = false, signal_given = false;
  pid_t pid = 0;
};

[[noreturn]] void die(int status, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void die(int status, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("cr_checkpoint: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(status);
}

long parse_number(const std::string& v, const char* what, long lo, long hi) {
  char* end;
  errno = 0;
  long n = strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || n < lo || n > hi) die(2, "bad %s '%s'", what, v.c_str());
  return n;
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::string pid, sig, timeout;
  CLI::App app{"Checkpoint a running libcr process (started with cr_run or linked with -lcr).",
               "cr_checkpoint"};
  app.add_option("-f,--file", o.file,
                 "write the image to FILE (default: context.PID); for a crmpirun job, the "
                 "checkpoint folder DIR (default: PROG.ckpt.EPOCH beside the job)");
  auto after = [&](int s) { return [&o, s](int64_t) { o.sig = s; }; };
  app.add_flag("--term", after(SIGTERM), "send SIGTERM to the process after the checkpoint");
  app.add_flag("--kill", after(SIGKILL), "kill the process (SIGKILL) after the checkpoint");
  app.add_flag("--stop", after(SIGSTOP), "stop the process (SIGSTOP) after the checkpoint");
  app.add_flag("--cont", after(CR_SIGNAL_NONE), "let the process continue (default)");
  app.add_option("--signal", sig, "send signal NUM to the process after the checkpoint")
      ->type_name("NUM");
  app.add_option("-T,--timeout", timeout, "give up if the checkpoint takes longer")
      ->type_name("SECS");
  app.add_flag("-z,--compress", o.compress, "compress page data with zstd");
  app.add_flag("-q,--quiet", o.quiet, "no message on success");
  app.add_option("PID", pid, "the process")->required();
  crtools::parse_or_exit(
      app, "cr_checkpoint [-f FILE] [--term|--kill|--stop|--cont|--signal NUM] [-T SECS] [-z] [-q] PID",
      argc, argv);
  o.file_given = !o.file.empty();
  o.signal_given = !sig.empty();
  if (!sig.empty()) o.sig = static_cast<int>(parse_number(sig, "signal", 0, 64));
  if (!timeout.empty()) o.timeout = parse_number(timeout, "timeout", 0, 1L << 30);
  o.pid = static_cast<pid_t>(parse_number(pid, "PID", 1, 4194304));
  if (o.file.empty()) o.file = "context." + std::to_string(o.pid);
  return o;
}

std::string user_name(uid_t uid) {
  const struct passwd* p = getpwuid(uid);
  return "uid " + std::to_string(uid) + (p ? " (" + std::string(p->pw_name) + ")" : "");
}

// The state letter of process @pid (proc(5)), or '?' if it is gone.
char proc_state(pid_t pid) {
  char buf[512] = {0};
  FILE* st = fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "re");
  if (!st) return '?';
  size_t n = fread(buf, 1, sizeof buf - 1, st);
  fclose(st);
  buf[n] = '\0';
  return crmpi::procstat::state(buf);
}

// Step 1: the target runs, and we may checkpoint it.
crctl::ProcIds check_target(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH) die(1, "no process %d", pid);
  crctl::ProcIds ids;
  if (int rc = crctl::read_proc_ids(pid, &ids))
    die(1, "cannot read the ids of process %d: %s", pid, strerror(-rc));
  // A stopped process cannot answer, and a zombie never will.
  const char state = proc_state(pid);
  int threads = 1;
  if (FILE* ps = fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "re")) {
    char line[256];
    while (fgets(line, sizeof line, ps))
      if (sscanf(line, "Threads: %d", &threads) == 1) break;
    fclose(ps);
  }
  if (state == 'T' || state == 't')
    die(1, "process %d is stopped; continue it first (kill -CONT %d)", pid, pid);
  // A zombie leader with live threads (main called pthread_exit) is fine.
  if ((state == 'Z' || state == 'X') && threads <= 1) die(1, "process %d has exited (zombie)", pid);
  if (geteuid() == 0) return ids;
  const bool changed = ids.uid[0] != ids.uid[1] || ids.uid[1] != ids.uid[2] ||
                       ids.gid[0] != ids.gid[1] || ids.gid[1] != ids.gid[2];
  if (changed)
    die(1,
        "permission denied: process %d runs with changed ids (real %s, effective %s): only root "
        "may checkpoint a setuid or setgid program",
        pid, user_name(ids.uid[0]).c_str(), user_name(ids.uid[1]).c_str());
  if (ids.uid[0] != geteuid() || ids.gid[0] != getegid())
    die(1, "permission denied: process %d belongs to %s, not to you (%s)", pid,
        user_name(ids.uid[0]).c_str(), user_name(geteuid()).c_str());
  return ids;
}

// The image being written: anonymous (O_TMPFILE) when the folder's file
// system allows, else a named temporary file removed on every failure.
struct ImageFile {
  int fd = -1;
  std::string path, dir, tmp_name;  // tmp_name: only for a named temporary
};

// Where O_TMPFILE is not supported (NFS, some parallel file systems) the
// image is a named "FILE.tmp.<pid>.XXXXXX", and with O_TMPFILE it has that
// name between its link and its rename: a cr_checkpoint killed with
// SIGKILL there leaves it behind.  The next cr_checkpoint to the same FILE
// removes those whose writer is gone (its pid no longer exists).
void remove_stale_temporaries(const std::string& dir, const std::string& path) {
  std::string b = path;
  const std::string prefix = std::string(basename(b.data())) + ".tmp.";
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (const struct dirent* e = readdir(d)) {
    if (strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0) continue;
    char* end;
    const long pid = strtol(e->d_name + prefix.size(), &end, 10);
    if (pid <= 0 || *end != '.' || strlen(end + 1) != 6) continue;
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    unlinkat(dirfd(d), e->d_name, 0);
  }
  closedir(d);
}

ImageFile open_image(const std::string& path) {
  ImageFile f;
  f.path = path;
  std::string d = path;
  f.dir = dirname(d.data());
  remove_stale_temporaries(f.dir, path);
  f.fd = open(f.dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (f.fd >= 0) return f;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    die(1, "cannot create an image in %s: %s", f.dir.c_str(), strerror(errno));
  f.tmp_name = path + ".tmp." + std::to_string(getpid()) + ".XXXXXX";
  f.fd = mkostemp(f.tmp_name.data(), O_CLOEXEC);
  if (f.fd < 0) die(1, "cannot create %s: %s", f.tmp_name.c_str(), strerror(errno));
  fchmod(f.fd, 0600);
  return f;
}

void discard(ImageFile* f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  if (!f->tmp_name.empty()) unlink(f->tmp_name.c_str());
}

// Step 6: the image gets its durable name.  0 or an errno.
int commit_image(ImageFile* f) {
  if (fsync(f->fd) != 0) return errno;
  if (f->tmp_name.empty()) {
    // Link the anonymous file; a rename over the old image keeps the
    // replacement atomic (no moment without an image of that name).
    f->tmp_name = f->path + ".tmp." + std::to_string(getpid()) + ".XXXXXX";
    for (int tries = 0;; ++tries) {
      std::string t = f->tmp_name;
      snprintf(t.data() + t.size() - 6, 7, "%06x", static_cast<unsigned>(rand()) & 0xffffff);
      const std::string proc = "/proc/self/fd/" + std::to_string(f->fd);
      if (linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, t.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        f->tmp_name = t;
        break;
      }
      if (errno != EEXIST || tries > 100) return errno;
    }
  }
  if (rename(f->tmp_name.c_str(), f->path.c_str()) != 0) return errno;
  f->tmp_name.clear();
  int dfd = open(f->dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno;
  int rc = fsync(dfd) == 0 ? 0 : errno;
  close(dfd);
  return rc;
}

// Step 4: a connection to the target, checked; dies with a message naming
// the cause otherwise.
int connect_checked(pid_t pid, const crctl::ProcIds& ids) {
  crctl::ConnectProblem why;
  int s = crctl::connect_target(pid, ids, &why);
  if (s >= 0) return s;
  if (s == -EPERM)
    die(1,
        "refusing to talk to process %d: its control socket %s is held by process %d (%s), not by "
        "it; nothing was sent",
        pid, why.path, why.impostor_pid, user_name(why.impostor_uid).c_str());
  if (why.folder != crctl::kFolderOk && why.folder != crctl::kFolderMissing) {
    char dir[64];
    crctl::socket_folder(ids.uid[1], dir, sizeof dir);
    die(1,
        "process %d cannot be checkpointed: its control socket folder %s %s (owner %s), so libcr "
        "could not create its socket (the process said so on its stderr when it started)",
        pid, dir, crctl::folder_problem_text(why.folder), user_name(why.folder_owner).c_str());
  }
  if (s == -EACCES) die(1, "permission denied: cannot reach the control socket %s", why.path);
  bool has_libcr = false;
  if (FILE* m = fopen(("/proc/" + std::to_string(pid) + "/maps").c_str(), "re")) {
    char line[4096];
    while (!has_libcr && fgets(line, sizeof line, m)) has_libcr = strstr(line, "/libcr.so") != nullptr;
    fclose(m);
  }
  if (!has_libcr)
    die(1, "process %d is not checkpointable: libcr is not loaded in it (start it with cr_run)",
        pid);
  die(1, "process %d has libcr but its control socket %s %s", pid, why.path,
      s == -ECONNREFUSED ? "does not answer" : "is missing (removed, or libcr could not create it)");
}

const char* refusal_text(uint32_t r) {
  switch (r) {
    case crctl::kRefusedOtherUser:
      return "it belongs to another user";
    case crctl::kRefusedChangedIds:
      return "it runs with changed ids (setuid/setgid): only root may checkpoint it";
    case crctl::kRefusedNotDumpable:
      return "it is not dumpable (PR_SET_DUMPABLE is 0): only root may checkpoint it";
    default:
      return "it refused the request";
  }
}

// Step 5: one reply, or a signal, or the deadline.  Returns 0 with *rep,
// or the signal number (> 0), or -ETIMEDOUT, -ESTRPIPE (the target was
// stopped meanwhile: it cannot answer until continued), or -errno.
int wait_reply(pid_t pid, int sock, int sigfd, long deadline_ms, crctl::WireReply* rep) {
  for (;;) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const long now = ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
    if (deadline_ms >= 0 && now >= deadline_ms) return -ETIMEDOUT;
    // Wake every 250 ms to notice a target that was stopped after step 1.
    const long left = deadline_ms < 0 ? 250 : deadline_ms - now;
    struct pollfd p[2] = {{sock, POLLIN, 0}, {sigfd, POLLIN, 0}};
    int n = poll(p, 2, static_cast<int>(left < 250 ? left : 250));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) {
      const char st = proc_state(pid);
      if (st == 'T' || st == 't') return -ESTRPIPE;
      continue;
    }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sigfd, &si, sizeof si) == sizeof si) return static_cast<int>(si.ssi_signo);
    }
    if (p[0].revents) return crctl::read_reply(sock, rep);
  }
}

long deadline_after(long seconds) {
  if (seconds <= 0) return -1;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L + seconds * 1000L;
}

// Step 7: --kill returns once the target is gone, --stop once it is stopped.
void wait_signal_applied(const Options& o, int sock) {
  if (o.sig == SIGKILL) {
    struct pollfd p = {sock, POLLRDHUP, 0};
    poll(&p, 1, 10000);  // the socket closes when the process dies
  } else if (o.sig == SIGSTOP) {
    for (int i = 0; i < 2000; ++i) {
      const char st = proc_state(o.pid);
      if (st == '?' || st == 'T' || st == 't') return;
      usleep(5000);
    }
  }
}

// Job mode: a crmpirun PID.
int checkpoint_job(const Options& o, const crctl::ProcIds& ids, int sigfd) {
  if (o.compress)
    die(2, "--compress does not apply to a job checkpoint (each rank's image is written by its agent)");
  if (o.signal_given)
    die(2, "--signal does not apply to a job checkpoint; use --term, --kill or --stop");
  namespace co = crmpi::coord;
  const unsigned after = o.sig == SIGTERM   ? co::kAfterTerm
                         : o.sig == SIGKILL ? co::kAfterKill
                         : o.sig == SIGSTOP ? co::kAfterStop
                                            : co::kAfterContinue;
  return crtools::checkpoint_job(o.pid, ids, o.file_given ? o.file : "", after,
                                 static_cast<unsigned>(o.timeout), o.quiet, sigfd);
}

}  // namespace

int main(int argc, char** argv) {
  crtools::quiet_on_closed_pipe();
  const Options o = parse_args(argc, argv);
  srand(static_cast<unsigned>(getpid() ^ time(nullptr)));
  const crctl::ProcIds ids = check_target(o.pid);

  sigset_t stop_sigs;
  sigemptyset(&stop_sigs);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&stop_sigs, s);
  sigprocmask(SIG_BLOCK, &stop_sigs, nullptr);
  const int sigfd = signalfd(-1, &stop_sigs, SFD_CLOEXEC);
  if (crtools::is_job(o.pid, ids)) return checkpoint_job(o, ids, sigfd);

  ImageFile img = open_image(o.file);
  const int sock = connect_checked(o.pid, ids);
  crctl::WireRequest w;
  memset(&w, 0, sizeof w);
  w.magic = crctl::kRequestMagic;
  w.version = crctl::kWireVersion;
  w.flags = o.compress ? CR_CHKPT_COMPRESS : 0;
  w.after_signal = o.sig;
  w.timeout_s = static_cast<uint32_t>(o.timeout);
  w.options = crctl::kRequestCommit;
  if (int rc = crctl::send_request(sock, w, img.fd)) {
    discard(&img);
    die(1, "cannot send the request to process %d: %s", o.pid, strerror(-rc));
  }

  crctl::WireReply rep;
  const int got = wait_reply(o.pid, sock, sigfd, deadline_after(o.timeout), &rep);
  if (got != 0) {
    // Abandon: closing the socket tells the target to go on, unsignalled.
    close(sock);
    discard(&img);
    if (got > 0) {
      fprintf(stderr, "cr_checkpoint: interrupted by signal %d: checkpoint abandoned; process %d "
                      "goes on\n", got, o.pid);
      return 128 + got;
    }
    if (got == -ETIMEDOUT)
      die(1, "process %d did not finish its checkpoint within %ld s; it goes on", o.pid, o.timeout);
    if (got == -ESTRPIPE)
      die(1, "process %d is stopped; continue it first (kill -CONT %d); checkpoint abandoned",
          o.pid, o.pid);
    die(1, "process %d died during the checkpoint", o.pid);
  }
  if (rep.status != 0 || rep.phase != crctl::kPhaseWritten) {
    discard(&img);
    if (rep.status == EPERM && rep.refusal)
      die(1, "permission denied: process %d (owner %s) refused: %s", o.pid,
          user_name(rep.owner_uid).c_str(), refusal_text(rep.refusal));
    die(1, "checkpoint of %d failed: %s", o.pid, crctl::error_text(rep.status ? rep.status : EIO));
  }

  const crctl::WireReply written = rep;
  if (int e = commit_image(&img)) {
    close(sock);  // the target goes on, unsignalled
    discard(&img);
    die(1, "cannot keep the image as %s: %s; process %d goes on", o.file.c_str(), strerror(e),
        o.pid);
  }
  // Committed: from here on, signals cannot undo anything; they are left
  // pending (blocked) and dropped at exit.
  close(img.fd);
  const bool acked = crctl::send_commit(sock) == 0 && crctl::read_reply(sock, &rep) == 0;
  if (acked) wait_signal_applied(o, sock);
  close(sock);
  if (!acked && o.sig != CR_SIGNAL_NONE)
    fprintf(stderr, "cr_checkpoint: warning: process %d did not confirm the after-signal\n", o.pid);
  if (!o.quiet)
    fprintf(stderr, "cr_checkpoint: process %d checkpointed to %s (%llu bytes, digest %016llx)\n",
            o.pid, o.file.c_str(), static_cast<unsigned long long>(written.image_bytes),
            static_cast<unsigned long long>(written.image_digest));
  return 0;
}
