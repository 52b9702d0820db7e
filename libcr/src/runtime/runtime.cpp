// runtime.cpp -- libcr's load-time initialisation and its manager thread.
//
// Loading libcr.so (linked or preloaded by cr_run) is all a process needs to
// become checkpointable: the constructor installs the checkpoint signal
// handler, opens the control socket (/tmp/crmpi-<uid>/libcr.<pid>, see
// ../control/control.h) and starts the
// manager thread, which serves checkpoint requests one at a time.
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

namespace crrt {

constinit static Globals g_state;
Globals& g() {
  return g_state;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static std::atomic<int> g_start_ok{0};

void write_stderr(const char* a, const char* b, const char* c) {
  const char* parts[3] = {a, b, c};
  for (const char* p : parts)
    if (p) {
      ssize_t r = write(2, p, strlen(p));
      (void)r;
    }
}

long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int futex_wait(std::atomic<uint32_t>* addr, uint32_t val, int timeout_ms) {
  struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  long r = syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAIT_PRIVATE, val,
                   timeout_ms >= 0 ? &ts : nullptr, nullptr, 0);
  return r == 0 ? 0 : -errno;
}

void futex_wake(std::atomic<uint32_t>* addr) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(addr), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr,
          nullptr, 0);
}

// The manager: one request at a time, for the life of the process.
static void* manager_main(void*) {
  prctl(PR_SET_NAME, "cr_manager", 0, 0, 0);
  Globals& G = g();
  G.manager_tid = gettid_raw();
  // Block everything but the checkpoint signal: process-directed signals go
  // to application threads, as if libcr's thread did not exist.
  sigset_t all;
  sigfillset(&all);
  raw_sigprocmask(SIG_SETMASK, &all, nullptr);
  for (;;) {
    Request r;
    int rc = control_receive(G.listen_fd, &r);
    if (rc == -EBADF) {
      usleep(100000);  // listen socket being replaced after a fork/restart
      continue;
    }
    if (rc) continue;
    handle_request(&r);
  }
  return nullptr;
}

static void start_once() {
  Globals& G = g();
  resolve_real_io();
  resolve_real_sig();
  G.pid = getpid();
  const char* sig = getenv("CRMPI_CR_SIGNAL");
  G.cr_signal = sig ? atoi(sig) : SIGRTMAX - 2;
  if (G.cr_signal <= SIGRTMIN || G.cr_signal > SIGRTMAX) G.cr_signal = SIGRTMAX - 2;
  G.tid_offset = discover_tid_offset();
  install_signal_handler();
  G.listen_fd = control_listen(G.pid);  // says why loudly if it cannot
  if (G.listen_fd < 0) return;
  add_internal_fd(G.listen_fd);
  // The manager starts with every signal blocked so none is delivered to
  // it before it settles its mask.
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, size_t{256} * 1024);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&t, &a, manager_main, nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  pthread_attr_destroy(&a);
  if (rc != 0) {
    write_stderr("libcr: cannot start the manager thread; checkpoints disabled\n");
    return;
  }
  g_start_ok = 1;
}

// After fork() the child has only the forking thread: give it its own
// socket and manager so that it is checkpointable too.
static void after_fork_child() {
  Globals& G = g();
  G.pid = getpid();
  G.active = 0;
  G.nself = 0;
  for (int i = 0; i < G.ninternal; ++i) close(G.internal_fds[i]);
  G.ninternal = 0;
  forget_excluded_fds();  // the child's own choice, if it wants one
  g_start_ok = 0;
  g_once = PTHREAD_ONCE_INIT;
  ensure_started();
}

void ensure_started() {
  pthread_once(&g_once, start_once);
}
bool started_ok() {
  return g_start_ok.load() != 0;
}

// A socket file outlives its process; remove ours on a normal exit (a
// killed process's file is replaced by the next process of that pid).
__attribute__((destructor)) static void libcr_unload() {
  control_forget_socket();
}

__attribute__((constructor)) static void libcr_load() {
  if (getenv("CRMPI_LIBCR_DISABLE")) return;
  ensure_started();
  pthread_atfork(nullptr, nullptr, after_fork_child);
}

}  // namespace crrt
