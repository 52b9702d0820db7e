// cr_agent [--restore MANIFEST] PROG ARGS...: one rank's real MPI process.
//
// Lifecycle (a table of contents):
//   1. MPI_Init_thread; errors on every communicator return to us.
//   2. Create the channel (memfd), start the app as our child with the
//      channel at fd chan::kChannelFd, LD_PRELOAD of libcrpmpi, and
//      PR_SET_PDEATHSIG -- or, with --restore, `cr_restart --inherit-fd`
//      of this rank's image from the job manifest: the restored app finds
//      its new channel at the same fd.
//   3. Join the job's coordinator (if crmpirun gave one): job checkpoints.
//   4. Serve the app's calls until it exits.
//   5. Mirror the app's fate: finalize and exit with its status, or die of
//      its signal, so that mpirun reports the rank and the cause.
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "agent.h"
#include "agent_ckpt.h"
#include "agent_internal.h"
#include "crmpi/manifest.h"
#include "die_of_signal.h"
#include "paths.h"

namespace crmpi::agent {

chan::Shared* g_sh = nullptr;
pid_t g_app = -1;
int g_rank = -1;

namespace {

volatile sig_atomic_t g_app_status = -1;  // waitpid status once the app is gone
volatile sig_atomic_t g_in_call = 0;

void say(const char* s) {
  (void)!write(2, s, strlen(s));
}

// Async-signal-safe: called from the SIGCHLD handler while a call is running
// (the agent may be blocked inside MPI forever otherwise) or from main.
void mirror_death(int st) {
  char buf[160];
  if (ckpt::ending()) {  // checkpointed with --kill/--term: the job ends here, quietly
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin && !g_in_call) MPI_Finalize();
    _exit(0);
  }
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    snprintf(buf, sizeof buf, "crmpi: rank %d: application killed by signal %d (%s)\n", g_rank, sig,
             strsignal(sig));
    say(buf);
    struct rlimit rl {
      0, 0
    };
    setrlimit(RLIMIT_CORE, &rl);
    crtools::die_of_signal(sig);
  }
  int code = WEXITSTATUS(st);
  if (app_initialized() && !app_finalized()) {
    snprintf(buf, sizeof buf,
             "crmpi: rank %d: application exited with status %d without calling MPI_Finalize\n",
             g_rank, code);
    say(buf);
    _exit(code ? code : 1);
  }
  _exit(code);
}

void on_sigchld(int) {
  int st;
  if (g_app > 0 && waitpid(g_app, &st, WNOHANG) == g_app) {
    g_app_status = st;
    if (g_in_call) mirror_death(st);
  }
}

void on_forward(int sig) {
  if (g_app > 0) kill(g_app, sig);
}

bool app_alive() {
  return g_app_status == -1;
}

chan::Shared* make_channel(int* fd_out) {
  int fd = memfd_create("crmpi-channel", 0);
  if (fd < 0 || ftruncate(fd, sizeof(chan::Shared)) != 0) {
    perror("crmpi: memfd_create");
    return nullptr;
  }
  void* p = mmap(nullptr, sizeof(chan::Shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    perror("crmpi: mmap channel");
    return nullptr;
  }
  auto* sh = new (p) chan::Shared;
  sh->magic = chan::kMagic;
  sh->version = chan::kVersion;
  sh->agent_pid = getpid();
  sh->app_cpu = -1;
  sh->agent_cpu = -1;
  *fd_out = fd;
  return sh;
}

// mpirun binds each rank to a core when there are few ranks, and the app
// inherits its agent's binding. When this host has more CPUs than ranks, let
// the app run on any of them, so that it and its agent can each have a core
// (the handoff is then a spin, not a context switch).
void spread_if_spare_cpus() {
  const char* local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  if (!local || getenv("CRMPI_KEEP_BINDING") || atol(local) >= cpus) return;
  cpu_set_t all;
  CPU_ZERO(&all);
  for (long c = 0; c < cpus && c < CPU_SETSIZE; ++c) CPU_SET(c, &all);
  sched_setaffinity(0, sizeof all, &all);  // best effort (cgroups may restrict)
}

// Put the channel at chan::kChannelFd (raising the soft fd limit if it is
// below), where every incarnation of the app finds it.
bool place_channel(int fd) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= static_cast<rlim_t>(chan::kChannelFd)) {
    rl.rlim_cur = chan::kChannelFd + 1;
    if (rl.rlim_max < rl.rlim_cur) return false;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (fd != chan::kChannelFd && dup2(fd, chan::kChannelFd) < 0) return false;
  if (fd != chan::kChannelFd) close(fd);
  setenv("CRMPI_CHANNEL_FD", std::to_string(chan::kChannelFd).c_str(), 1);
  return true;
}


// This rank's image in the manifest (checked by crmpirun before launch).
std::string image_of_rank(const char* manifest) {
  try {
    std::string path = crmpi::manifest::locate(manifest);
    crmpi::manifest::Manifest m = crmpi::manifest::read(path);
    for (const auto& r : m.ranks)
      if (r.rank == g_rank) return path.substr(0, path.rfind('/') + 1) + r.image;
    fprintf(stderr, "crmpi: rank %d: %s has no image for this rank\n", g_rank, path.c_str());
  } catch (const std::exception& e) {
    fprintf(stderr, "crmpi: rank %d: %s\n", g_rank, e.what());
  }
  return "";
}

pid_t start_app(int fd, char** argv, const std::string& image) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  spread_if_spare_cpus();
  if (!place_channel(fd)) {
    fprintf(stderr, "crmpi: rank %d: cannot place the channel at fd %d: %s\n", g_rank,
            chan::kChannelFd, strerror(errno));
    _exit(127);
  }
  if (!image.empty()) {  // --restore: the app comes back from its image
    std::string tool = crtools::self_dir() + "/cr_restart", fdarg = std::to_string(chan::kChannelFd);
    signal(SIGPIPE, SIG_DFL);
    execl(tool.c_str(), "cr_restart", "-q", "--inherit-fd", fdarg.c_str(), image.c_str(),
          static_cast<char*>(nullptr));
    fprintf(stderr, "crmpi: rank %d: cannot execute %s: %s\n", g_rank, tool.c_str(),
            strerror(errno));
    _exit(127);
  }
  if (const char* lib = getenv("CRMPI_PRELOAD"); lib && *lib) {
    std::string pre = lib;
    if (const char* old = getenv("LD_PRELOAD"); old && *old) pre += std::string(":") + old;
    setenv("LD_PRELOAD", pre.c_str(), 1);
  }
  signal(SIGPIPE, SIG_DFL);
  execvp(argv[0], argv);
  fprintf(stderr, "crmpi: rank %d: cannot execute %s: %s\n", g_rank, argv[0], strerror(errno));
  _exit(127);
}

void serve() {
  uint32_t seen = 0;  // the channel starts at 0; the app may have rung already
  uint32_t& last_call = internal::g_calls_done;
  chan::Spin spin;
  spin.my_cpu = &g_sh->agent_cpu;
  spin.peer_cpu = &g_sh->app_cpu;
  if (const char* s = getenv("CRMPI_AGENT_SPIN_NS")) spin.max_ns = spin.cur_ns = atol(s);
  if (const char* s = getenv("CRMPI_AGENT_SPIN_MIN_NS")) spin.min_ns = atol(s);
  for (;;) {
    uint32_t v = chan::wait_change(g_sh->req_seq, g_sh->agent_sleeping, seen, spin, app_alive);
    if (v == seen) {
      if (!app_alive()) return;
      continue;
    }
    seen = v;
    ckpt::poll();  // the coordinator or the app's libcr may have rung us
    g_in_call = 1;
    if (!app_alive()) mirror_death(g_app_status);
    // Load call_seq before draining: sends posted before the call are then
    // all visible to the drain, and go out before the call executes.
    uint32_t c = g_sh->call_seq.load(std::memory_order_acquire);
    run_posted_sends();
    if (c != last_call) {
      last_call = c;
      execute();
      last_call = g_sh->call_seq.load();  // callbacks inside execute() posted too
      seen = g_sh->req_seq.load();
      chan::ring(g_sh->rep_seq, g_sh->app_sleeping);
      // `seen` now includes every ring made during the call -- the event
      // thread's too, for a coordinator message or libcr's reply that came
      // meanwhile.  Serve those now: waiting for the next ring would wait
      // for the app's next MPI call, and an app computing at that moment
      // left the checkpoint stuck (a Link unanswered until the timeout).
      ckpt::poll();
    }
    g_in_call = 0;
  }
}

}  // namespace
}  // namespace crmpi::agent

int main(int argc, char** argv) {
  using namespace crmpi::agent;
  const char* manifest = nullptr;
  if (argc >= 3 && strcmp(argv[1], "--restore") == 0) {
    manifest = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 2) {
    fprintf(stderr,
            "usage: cr_agent [--restore MANIFEST] PROG [ARGS...]\n(cr_agent is started by "
            "crmpirun)\n");
    return 2;
  }
  // Payload copies of nonblocking operations come and go at high rate: keep
  // them in the heap (no mmap/munmap, no page faults and zeroing per message).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  int provided;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) return 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  init_tables();
  internal::rndv_init();
  int fd = -1;
  g_sh = make_channel(&fd);
  if (!g_sh) MPI_Abort(MPI_COMM_WORLD, 1);

  struct sigaction sa {};
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_NOCLDSTOP;  // no SA_RESTART: wake the futex sleep
  sigaction(SIGCHLD, &sa, nullptr);
  sa.sa_handler = on_forward;
  sa.sa_flags = SA_RESTART;
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT}) sigaction(s, &sa, nullptr);

  std::string image;
  if (manifest) {
    image = image_of_rank(manifest);
    if (image.empty()) MPI_Abort(MPI_COMM_WORLD, 1);
  }
  g_app = start_app(fd, argv + 1, image);
  if (g_app < 0) {
    perror("crmpi: fork");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  close(fd);
  if (!ckpt::start(manifest != nullptr)) MPI_Abort(MPI_COMM_WORLD, 1);
  serve();
  // The app is gone (serve returns only then).
  int st = g_app_status;
  if (!WIFSIGNALED(st) && (!app_initialized() || app_finalized())) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
  }
  mirror_death(st);
}
