// api.cpp -- the request side of libcr.h: cr_request_checkpoint,
// cr_poll_checkpoint, critical sections, error strings.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

using namespace crrt;

namespace {
pthread_mutex_t g_self_lock = PTHREAD_MUTEX_INITIALIZER;
cr_job_request_fn g_job_fn = nullptr;  // CR_SCOPE_JOB (cr_set_job_request_handler)
void* g_job_arg = nullptr;
constexpr int kJobHandle = -2;  // cr_checkpoint_handle_t::fd of a job request

void forget_self_fd(int fd) {
  pthread_mutex_lock(&g_self_lock);
  Globals& G = g();
  for (int i = 0; i < G.nself; ++i)
    if (G.self_fds[i] == fd) {
      --G.nself;
      G.self_fds[i] = G.self_fds[G.nself];
      G.self_image_fds[i] = G.self_image_fds[G.nself];
    }
  pthread_mutex_unlock(&g_self_lock);
}

}  // namespace

extern "C" {

const char* cr_strerror(int e) {
  return crctl::error_text(e);
}

void cr_initialize_checkpoint_args_t(cr_checkpoint_args_t* a) {
  memset(a, 0, sizeof *a);
  a->cr_version = CR_CHECKPOINT_ARGS_VERSION;
  a->cr_scope = CR_SCOPE_PROC;
  a->cr_target = 0;
  a->cr_fd = -1;
  a->cr_signal = CR_SIGNAL_NONE;
}

int cr_set_job_request_handler(cr_job_request_fn fn, void* arg) {
  pthread_mutex_lock(&g_self_lock);
  g_job_fn = fn;
  g_job_arg = arg;
  pthread_mutex_unlock(&g_self_lock);
  return 0;
}

// A job checkpoint: handed to the job handler (libcrpmpi); the handle only
// says "the job has the request" (cr_poll_checkpoint answers 1).
static int request_job_checkpoint(cr_checkpoint_handle_t* h) {
  pthread_mutex_lock(&g_self_lock);
  cr_job_request_fn fn = g_job_fn;
  void* arg = g_job_arg;
  pthread_mutex_unlock(&g_self_lock);
  if (!fn) {
    errno = CR_ENOSUPPORT;
    return -1;
  }
  if (int e = fn(arg)) {
    errno = e;
    return -1;
  }
  h->fd = kJobHandle;
  h->target = getpid();
  h->self = 1;
  return 0;
}

int cr_request_checkpoint(const cr_checkpoint_args_t* a, cr_checkpoint_handle_t* h) {
  if (a && h && a->cr_version == CR_CHECKPOINT_ARGS_VERSION && a->cr_scope == CR_SCOPE_JOB)
    return request_job_checkpoint(h);
  if (!a || !h || a->cr_version != CR_CHECKPOINT_ARGS_VERSION || a->cr_scope != CR_SCOPE_PROC ||
      a->cr_target < 0) {
    errno = EINVAL;
    return -1;
  }
  int fl = fcntl(a->cr_fd, F_GETFL);
  if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY || (fl & O_PATH)) {
    errno = EINVAL;
    return -1;
  }
  const pid_t target = a->cr_target ? a->cr_target : getpid();
  const bool self = target == getpid();
  if (!self && kill(target, 0) != 0 && errno == ESRCH) return -1;
  if (self) {
    ensure_started();
    if (!started_ok()) {
      errno = CR_ENOSUPPORT;
      return -1;
    }
  }
  crctl::ProcIds ids;
  if (self) {
    getresuid(&ids.uid[0], &ids.uid[1], &ids.uid[2]);
    getresgid(&ids.gid[0], &ids.gid[1], &ids.gid[2]);
  } else if (int rc = crctl::read_proc_ids(target, &ids)) {
    errno = -rc;
    return -1;
  }
  crctl::ConnectProblem why;
  int s = crctl::connect_target(target, ids, &why);
  if (s < 0) {
    // EPERM: the socket is held by another process: never talk to it.
    errno = s == -EPERM || s == -EACCES ? EPERM : CR_ENOSUPPORT;
    return -1;
  }
  if (self) {
    pthread_mutex_lock(&g_self_lock);
    Globals& G = g();
    if (G.nself < kMaxInternalFds) {
      G.self_fds[G.nself] = s;
      G.self_image_fds[G.nself] = a->cr_fd;
      ++G.nself;
    }
    pthread_mutex_unlock(&g_self_lock);
  }
  crctl::WireRequest w;
  memset(&w, 0, sizeof w);
  w.magic = crctl::kRequestMagic;
  w.version = crctl::kWireVersion;
  w.flags = a->cr_flags;
  w.after_signal = a->cr_signal;
  w.timeout_s = a->cr_timeout;
  w.options = self ? crctl::kRequestSelf : 0;
  if (int rc = crctl::send_request(s, w, a->cr_fd)) {
    int e = -rc;
    if (self) forget_self_fd(s);
    close(s);
    errno = (e == EPIPE || e == ECONNRESET) ? CR_ENOSUPPORT : e;
    return -1;
  }
  h->fd = s;
  h->target = target;
  h->self = self;
  return 0;
}

int cr_poll_checkpoint(cr_checkpoint_handle_t* h, struct timeval* timeout) {
  if (h && h->fd == kJobHandle) {  // CR_SCOPE_JOB: the job has the request
    h->fd = -1;
    return 1;
  }
  if (!h || h->fd < 0) {
    errno = EINVAL;
    return CR_POLL_CHKPT_ERR_PRE;
  }
  const long limit = timeout ? timeout->tv_sec * 1000L + timeout->tv_usec / 1000 : -1;
  const long start = now_ms();
  crctl::WireReply rep;
  for (;;) {
    long left = limit < 0 ? -1 : limit - (now_ms() - start);
    if (limit >= 0 && left < 0) left = 0;
    struct pollfd p = {h->fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left));
    if (n == 0) return 0;
    if (n < 0) {
      // Our own checkpoint signal interrupts a self-request: keep waiting.
      if (errno == EINTR && h->self) continue;
      return CR_POLL_CHKPT_ERR_PRE;
    }
    const int r = crctl::read_reply(h->fd, &rep);
    if (r == -EINTR) continue;
    if (r != 0) {
      errno = ESRCH;  // the target went away without answering
    } else if (rep.restarted) {
      errno = CR_ERESTARTED;
    } else {
      errno = rep.status;
    }
    break;
  }
  int e = errno;
  if (h->self) forget_self_fd(h->fd);
  close(h->fd);
  h->fd = -1;
  errno = e;
  if (e == CR_ERESTARTED) return CR_POLL_CHKPT_ERR_POST;
  if (e != 0) return CR_POLL_CHKPT_ERR_PRE;
  return 1;
}

int cr_forget_checkpoint(cr_checkpoint_handle_t* h) {
  if (h && h->fd == kJobHandle) h->fd = -1;
  if (h && h->fd >= 0) {
    if (h->self) forget_self_fd(h->fd);
    close(h->fd);
    h->fd = -1;
  }
  return 0;
}

void cr_enter_cs(cr_client_id_t) {
  // Wait while a checkpoint holds the gate closed, then count ourselves in;
  // re-check so that a gate closed meanwhile is respected.
  Globals& G = g();
  for (;;) {
    while (G.cs_gate.load()) futex_wait(&G.cs_gate, 1, 100);
    G.cs_depth.fetch_add(1);
    if (!G.cs_gate.load()) return;
    G.cs_depth.fetch_sub(1);
  }
}
void cr_leave_cs(cr_client_id_t) {
  g().cs_depth.fetch_sub(1);
}

int cr_get_checkpoint_info(cr_checkpoint_info_t* info) {
  const CheckpointInfo c = last_checkpoint_info();
  if (!info || !c.digest) {
    errno = info ? ENOENT : EINVAL;
    return -1;
  }
  info->image_bytes = c.bytes;
  info->image_digest = c.digest;
  return 0;
}

int cr_is_restarted(void) {
  return g().restarted.load();
}

}  // extern "C"
