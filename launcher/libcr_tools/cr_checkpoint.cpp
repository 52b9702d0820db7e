// cr_checkpoint -- checkpoint a libcr-enabled process (BLCR's cr_checkpoint).
//
//   cr_checkpoint [-f FILE] [--term|--kill|--stop|--cont] [--timeout SECONDS]
//                 [--compress] PID
//
// The image is written to a temporary file in FILE's folder, which the
// target fsyncs; then it is renamed to FILE and the folder is fsynced.  Exit
// status 0 means the image is complete and durable; on any failure the
// temporary file is removed and an existing FILE is untouched.
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "libcr.h"
#include "quiet_pipe.h"

// The temporary image, removed if we are interrupted (Ctrl-C, SIGTERM).
static char g_tmp_path[4096];
static void on_interrupt(int sig) {
  if (g_tmp_path[0]) unlink(g_tmp_path);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void usage(FILE* f) {
  fprintf(f,
          "usage: cr_checkpoint [options] PID\n"
          "  -f, --file FILE      write the image to FILE (default: context.PID)\n"
          "      --term           send SIGTERM to the process after the checkpoint\n"
          "      --kill           kill the process (SIGKILL) after the checkpoint\n"
          "      --stop           stop the process (SIGSTOP) after the checkpoint\n"
          "      --cont           let the process continue (default)\n"
          "      --signal NUM     send signal NUM to the process after the checkpoint\n"
          "  -T, --timeout SECS   give up if the checkpoint takes longer\n"
          "  -z, --compress       compress page data with zstd\n"
          "  -q, --quiet          no message on success\n");
}

static int fail(const char* what, int err) {
  fprintf(stderr, "cr_checkpoint: %s: %s\n", what, cr_strerror(err));
  return 1;
}

int main(int argc, char** argv) {
  crtools::quiet_on_closed_pipe();
  std::string file;
  int sig = CR_SIGNAL_NONE;
  long timeout = 0;
  bool compress = false, quiet = false;
  const char* pid_arg = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        fprintf(stderr, "cr_checkpoint: %s needs a value\n", name);
        exit(2);
      }
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "-f" || a == "--file") {
      file = value("--file");
    } else if (a.rfind("--file=", 0) == 0) {
      file = a.substr(7);
    } else if (a == "--term") {
      sig = SIGTERM;
    } else if (a == "--kill") {
      sig = SIGKILL;
    } else if (a == "--stop") {
      sig = SIGSTOP;
    } else if (a == "--cont") {
      sig = CR_SIGNAL_NONE;
    } else if (a == "--signal" || a.rfind("--signal=", 0) == 0) {
      const char* v = a.rfind("--signal=", 0) == 0 ? argv[i] + 9 : value("--signal");
      char* end;
      long n = strtol(v, &end, 10);
      if (*v == '\0' || *end || n < 0 || n > 64) {
        fprintf(stderr, "cr_checkpoint: bad signal '%s'\n", v);
        return 2;
      }
      sig = static_cast<int>(n);
    } else if (a == "-T" || a == "--timeout" || a.rfind("--timeout=", 0) == 0) {
      const char* v = a.rfind("--timeout=", 0) == 0 ? argv[i] + 10 : value("--timeout");
      char* end;
      timeout = strtol(v, &end, 10);
      if (*v == '\0' || *end || timeout < 0) {
        fprintf(stderr, "cr_checkpoint: bad timeout '%s'\n", v);
        return 2;
      }
    } else if (a == "-z" || a == "--compress") {
      compress = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      fprintf(stderr, "cr_checkpoint: unknown option %s\n", a.c_str());
      usage(stderr);
      return 2;
    } else if (pid_arg) {
      fprintf(stderr, "cr_checkpoint: more than one PID given\n");
      return 2;
    } else {
      pid_arg = argv[i];
    }
  }
  if (!pid_arg) {
    usage(stderr);
    return 2;
  }
  char* end;
  long pid = strtol(pid_arg, &end, 10);
  if (*end || pid <= 0 || pid > 4194304) {
    fprintf(stderr, "cr_checkpoint: bad PID '%s'\n", pid_arg);
    return 2;
  }
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
    fprintf(stderr, "cr_checkpoint: no process %ld\n", pid);
    return 1;
  }
  // A stopped process cannot answer (and a zombie never will): say so
  // instead of waiting for ever.
  if (FILE* st = fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r")) {
    char buf[512] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, st);
    fclose(st);
    const char* rp = n ? strrchr(buf, ')') : nullptr;
    const char state = rp && rp[1] == ' ' ? rp[2] : '?';
    if (state == 'T' || state == 't') {
      fprintf(stderr, "cr_checkpoint: process %ld is stopped; continue it first (kill -CONT %ld)\n",
              pid, pid);
      return 1;
    }
    // A zombie leader with live threads (main called pthread_exit) is fine.
    int threads = 1;
    if (FILE* ps = fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r")) {
      char line[256];
      while (fgets(line, sizeof line, ps))
        if (sscanf(line, "Threads: %d", &threads) == 1) break;
      fclose(ps);
    }
    if ((state == 'Z' || state == 'X') && threads <= 1) {
      fprintf(stderr, "cr_checkpoint: process %ld has exited (zombie)\n", pid);
      return 1;
    }
  }
  if (file.empty()) file = "context." + std::to_string(pid);

  // Temporary file beside the final name, so the rename is atomic.
  std::string dir = file;
  dir = dirname(dir.data());
  std::string tmpl = file + ".tmp.XXXXXX";
  int fd = mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return fail(("cannot create " + tmpl).c_str(), errno);
  fchmod(fd, 0600);
  snprintf(g_tmp_path, sizeof g_tmp_path, "%s", tmpl.c_str());
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) signal(sig, on_interrupt);
  auto discard = [&]() {
    close(fd);
    unlink(tmpl.c_str());
  };

  cr_checkpoint_args_t args;
  cr_initialize_checkpoint_args_t(&args);
  args.cr_target = static_cast<pid_t>(pid);
  args.cr_fd = fd;
  args.cr_signal = sig;
  args.cr_timeout = static_cast<unsigned>(timeout);
  args.cr_flags = compress ? CR_CHKPT_COMPRESS : 0;
  cr_checkpoint_handle_t h;
  if (cr_request_checkpoint(&args, &h) != 0) {
    int e = errno;
    discard();
    if (e == CR_ENOSUPPORT) {
      fprintf(stderr,
              "cr_checkpoint: process %ld is not checkpointable: libcr is not loaded in it (start "
              "it with cr_run)\n",
              pid);
      return 1;
    }
    return fail(("cannot request a checkpoint of " + std::to_string(pid)).c_str(), e);
  }
  int rc;
  struct timeval tv = {timeout, 0};
  do {
    rc = cr_poll_checkpoint(&h, timeout ? &tv : nullptr);
    if (rc == 0) {
      cr_forget_checkpoint(&h);
      discard();
      fprintf(stderr, "cr_checkpoint: process %ld did not finish its checkpoint within %ld s\n",
              pid, timeout);
      return 1;
    }
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int e = errno;
    discard();
    if (e == ESRCH) {
      fprintf(stderr, "cr_checkpoint: process %ld died during the checkpoint\n", pid);
      return 1;
    }
    return fail(("checkpoint of " + std::to_string(pid) + " failed").c_str(), e);
  }
  // The target fsynced the data; make the name durable.
  if (fsync(fd) != 0) {
    int e = errno;
    discard();
    return fail(("cannot sync " + tmpl).c_str(), e);
  }
  close(fd);
  const int rn = rename(tmpl.c_str(), file.c_str());
  g_tmp_path[0] = '\0';
  if (rn != 0) {
    int e = errno;
    unlink(tmpl.c_str());
    return fail(("cannot rename to " + file).c_str(), e);
  }
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0) {
    return fail(("cannot sync folder " + dir).c_str(), errno);
  }
  close(dfd);
  if (!quiet) fprintf(stderr, "cr_checkpoint: process %ld checkpointed to %s\n", pid, file.c_str());
  return 0;
}
