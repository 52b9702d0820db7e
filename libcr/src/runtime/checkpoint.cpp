// checkpoint.cpp -- serving one request: the capture pipeline and the
// restart fix-ups.  Runs in the manager thread.
//
//   handle_request      wait for critical sections, run the thread-context
//                       callback chain (whose bottom is checkpoint_now),
//                       reply, apply the after-signal
//   checkpoint_now      map scratch, stop every thread, save own context;
//                       then either write the image (first return) or do
//                       the restart fix-ups (second return); release
//   kWriteSteps         the image, section by section, as a flat list
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

namespace crrt {
namespace {

Request* g_req = nullptr;
crimg::Scratch g_scratch;
crimg::ImageWriter g_writer;
uint64_t g_image_bytes = 0;
uint64_t g_image_digest = 0;

// ------------------------------------------------------------ write steps
int step_header() {
  const int level = (g_req->flags & CR_CHKPT_COMPRESS) ? 1 : 0;
  return g_writer.begin(g_req->image_fd, &g_scratch, static_cast<uint32_t>(getpid()), level);
}

int encode_into(uint32_t type, size_t cap, int (*fill)(crimg::Encoder*)) {
  void* buf = g_scratch.alloc(cap);
  if (!buf) return -ENOMEM;
  crimg::Encoder e(buf, cap);
  int rc = fill(&e);
  if (rc) return rc;
  return g_writer.metadata(type, e.data(), e.size());
}

int fill_threads(crimg::Encoder* e) {
  Globals& G = g();
  const uint32_t n = static_cast<uint32_t>(G.nslots.load());
  e->pod(n);
  for (uint32_t i = 0; i < n; ++i) {
    const ThreadSlot& s = G.slots[i];
    e->pod(s.rec);
    e->put(s.xstate, s.rec.xstate_size);
    e->put(s.pending, s.rec.npending * sizeof(crimg::PendingSignal));
  }
  return e->overflow() ? -ENOMEM : 0;
}

int step_process() {
  return encode_into(crimg::kSecProcess, 64 << 10, encode_process);
}
int step_threads() {
  return encode_into(crimg::kSecThreads, 4 + g().nslots.load() * sizeof(ThreadSlot), fill_threads);
}
int step_signals() {
  return encode_into(crimg::kSecSignals, 4 << 10, encode_signals);
}
int step_fds() {
  // Room for the records plus a few unlinked files' contents.
  size_t cap = (8u << 20) + 2 * crimg::kMaxDeletedFileBytes;
  void* buf = g_scratch.alloc(cap);
  if (!buf) return -ENOMEM;
  crimg::Encoder e(buf, cap);
  int rc = encode_fds(&e, &g_scratch);
  return rc ? rc : g_writer.metadata(crimg::kSecFds, e.data(), e.size());
}
int step_memory() {
  MemRange ex[CR_MAX_EXCLUDED_RANGES + 1];
  const size_t n = excluded_ranges(g_scratch.begin(), g_scratch.end(), ex);
  return write_memory(&g_writer, &g_scratch, ex, n);
}
int step_end() {
  return g_writer.end();
}
int step_sync() {
  // Durable before we say so.  fdatasync is not enough for a new file's size.
  return fsync(g_req->image_fd) == 0 ? 0 : -errno;
}

struct Step {
  const char* name;
  int (*run)();
};
const Step kWriteSteps[] = {
    {"header", step_header},   {"process", step_process}, {"threads", step_threads},
    {"signals", step_signals}, {"fds", step_fds},         {"memory", step_memory},
    {"end", step_end},
};
// step_sync runs after the threads are released: write() has already copied
// every page into the page cache, so the application may change its memory
// while the disk catches up.  The pause is the write, not the flush.

// errno names without strerror(): it may take locale locks or allocate,
// and every other thread is stopped here.
const char* errno_text(int e) {
  switch (e) {
    case ENOSPC:
      return "No space left on device";
    case EDQUOT:
      return "Disk quota exceeded";
    case EIO:
      return "Input/output error";
    case EFBIG:
      return "File too large";
    case ENOMEM:
      return "Cannot allocate memory";
    case EPIPE:
      return "Broken pipe";
    case EBADF:
      return "Bad file descriptor";
    case E2BIG:
      return "Too many memory regions";
    case EROFS:
      return "Read-only file system";
    case ESRCH:
      return "No such process";
    default:
      return "error";
  }
}

int write_image() {
  for (const Step& s : kWriteSteps) {
    int rc = s.run();
    if (rc) {
      char num[40];
      snprintf(num, sizeof num, " (errno %d)\n", -rc);
      write_stderr("libcr: checkpoint failed writing ", s.name, ": ");
      write_stderr(errno_text(-rc), num);
      return rc;
    }
  }
  g_image_bytes = g_writer.bytes();
  g_image_digest = g_writer.digest();
  return 0;
}

// Never report an image that does not hold one moment of the process: if a
// thread that was not parked ran during the capture (it entered the handler
// late, or was created), fail.
int check_capture(int nslots, uint32_t arrived) {
  int rc = check_still_stopped(nslots, arrived);
  if (rc)
    write_stderr("libcr: checkpoint failed: a thread that was not stopped ran during the "
                 "capture; try again\n");
  return rc;
}

// ------------------------------------------------------------ restart fix-ups
// Run before any other thread is released: no malloc, no stdio.
void restart_fixups() {
  Globals& G = g();
  G.restarted.store(1);
  G.mailbox.restarts++;
  G.pid = getpid();
  G.manager_tid = gettid_raw();
  G.ninternal = 0;               // none of libcr's old fds exist here
  forget_excluded_fds();         // nor the application's excluded ones,
  forget_excluded_ranges();      // nor its excluded memory
  g_image_bytes = g_image_digest = 0;  // this copy has written no image yet
  g_scratch = crimg::Scratch();  // its mapping was not restored
  // A fresh control socket under the new pid.
  G.listen_fd = control_listen(G.pid);
  if (G.listen_fd >= 0) add_internal_fd(G.listen_fd);
  // Self-checkpoint requesters are waiting for a reply on fds that did not
  // survive: give each a socket that answers "restarted".
  for (int i = 0; i < G.nself; ++i) {
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) continue;
    // The ends are alike: keep whichever already sits on the number.
    int mine = sp[0], peer = sp[1];
    if (peer == G.self_fds[i]) mine = sp[1], peer = sp[0];
    if (mine != G.self_fds[i]) {
      dup3(mine, G.self_fds[i], O_CLOEXEC);
      close(mine);
    }
    control_reply(peer, 0, true, 0);
    close(peer);
  }
  activate_placeholders();
  // Wait for every other thread to be back in libcr, then drop the
  // restorer's memory.
  const uint32_t want = static_cast<uint32_t>(G.nslots.load() - 1);
  for (int waited = 0; waited < 10000; ++waited) {
    uint32_t n = __atomic_load_n(&G.mailbox.restored_threads, __ATOMIC_SEQ_CST);
    if (n >= want) {
      if (G.mailbox.blob_addr)
        munmap(reinterpret_cast<void*>(G.mailbox.blob_addr), G.mailbox.blob_len);
      G.mailbox.blob_addr = 0;
      break;
    }
    struct timespec ts = {0, 1000000};
    syscall(SYS_futex, &G.mailbox.restored_threads, FUTEX_WAIT_PRIVATE, n, &ts, nullptr, 0);
  }
  G.mailbox.restored_threads = 0;
}

void after_signal_before_release() {
  int sig = g_req->after_signal;
  if (sig == SIGKILL || sig == SIGSTOP) kill(getpid(), sig);
}

// --kill/--stop with a committing requester (cr_checkpoint): the image is
// made durable here, reported as written, and the signal is applied only
// once the requester says the image has its durable name.  A requester that
// goes away before that (Ctrl-C, SIGKILL, timeout) leaves us running: we
// never die for an image nobody keeps.
void commit_then_signal() {
  g_req->replied = true;
  g_req->commit = false;  // consumed here, whatever happens
  const int src = step_sync();
  if (src) {
    write_stderr("libcr: checkpoint failed syncing the image: ", errno_text(-src), "\n");
    control_reply(g_req->conn, -src, false, g_image_bytes);
    return;
  }
  if (control_reply(g_req->conn, 0, false, g_image_bytes, true) != 0) return;
  if (crctl::wait_commit(g_req->conn, -1) == 1) {
    control_reply(g_req->conn, 0, false, g_image_bytes);  // "signalling now"
    after_signal_before_release();
  } else {
    write_stderr("libcr: the checkpoint's requester went away before keeping the image; "
                 "this process goes on\n");
  }
}

}  // namespace

CheckpointInfo last_checkpoint_info() {
  return {g_image_bytes, g_image_digest};
}

void set_current_request(Request* r) {
  g_req = r;
}

int checkpoint_now() {
  Globals& G = g();
  // Virtual reservation only (MAP_NORESERVE): pages cost when touched.
  int rc = g_scratch.init(size_t{1} << 30);
  if (rc) {
    G.result_errno = -rc;
    return -1;
  }
  // A thread that entered the handler just as an earlier checkpoint gave up
  // may still be counting itself: let it leave before the counters reset.
  for (int i = 0; i < 1000 && G.in_handler.load() > 0; ++i) usleep(1000);
  G.arrived = 0;
  G.departed = 0;
  G.nslots = 1;  // slot 0: the manager
  G.active = 1;
  rc = stop_all_threads(g_req->timeout_s ? g_req->timeout_s * 1000 : 10000);
  if (!rc && G.fail_errno.load()) rc = -G.fail_errno.load();
  if (rc) {
    G.active = 0;
    release_threads(-1, -rc);
    wait_threads_departed();
    g_scratch.release();
    errno = -rc;
    return -1;
  }
  const int nslots = G.nslots.load();
  const uint32_t arrived = G.arrived.load();
  memset(&G.slots[0].rec, 0, sizeof G.slots[0].rec);
  fill_thread_record(&G.slots[0], nullptr);
  G.slots[0].rec.flags |= crimg::kThreadManager;
  if (cr_ctx_save(&G.slots[0].rec.ctx) == 0) {
    // First return: the original process writes its image.
    g_scratch.reset();
    rc = write_image();
    if (rc == 0) rc = check_capture(nslots, arrived);
    if (rc == 0) {
      if (g_req->after_signal == SIGKILL || g_req->after_signal == SIGSTOP) {
        // We will not run again before the requester acts: report now; the
        // requester makes the image durable (cr_checkpoint always fsyncs).
        // Only a requester still there to keep the image may stop us: one
        // that gave up (timeout) has already deleted it.
        if (g_req->commit) {
          commit_then_signal();
        } else {
          struct pollfd pf = {g_req->conn, POLLRDHUP, 0};
          const bool gone =
              poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLRDHUP | POLLERR));
          const bool told = !gone && control_reply(g_req->conn, 0, false, g_image_bytes) == 0;
          g_req->replied = true;
          if (told) after_signal_before_release();
        }
      }
      G.active = 0;
      release_threads(0, 0);
    } else {
      G.active = 0;
      release_threads(-1, -rc);
    }
  } else {
    // Second return: we are a restarted process.
    restart_fixups();
    G.active = 0;
    release_threads(1, 0);
  }
  wait_threads_departed();
  if (G.result == 0 && !g_req->replied) {
    int src = step_sync();
    control_reply(g_req->conn, src ? -src : 0, false, g_image_bytes, !src && g_req->commit);
    g_req->replied = true;
    if (src) {
      write_stderr("libcr: checkpoint failed syncing the image: ", strerror(-src), "\n");
      G.result = -1;
      G.result_errno = -src;
    }
  }
  if (!G.restarted.load() || G.result != 1) g_scratch.release();
  if (G.result < 0) errno = G.result_errno;
  return G.result;
}

int handle_request(Request* r) {
  Globals& G = g();
  set_current_request(r);
  add_internal_fd(r->conn);
  add_internal_fd(r->image_fd);
  G.fail_errno = 0;
  G.result_errno = 0;
  // A requester that gave up (timeout) before we got to its request:
  // do not pause the application for an image nobody will keep.
  struct pollfd pf = {r->conn, POLLRDHUP, 0};
  if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
    remove_internal_fd(r->conn);
    remove_internal_fd(r->image_fd);
    close(r->conn);
    close(r->image_fd);
    set_current_request(nullptr);
    return -1;
  }

  // Critical sections: close the gate, wait for open sections to end.
  const long limit_ms = r->timeout_s ? r->timeout_s * 1000L : 10000L;
  long waited = 0;
  G.cs_gate.store(1);
  while (G.cs_depth.load() > 0 && waited < limit_ms) {
    usleep(1000);
    ++waited;
  }
  // A process that is not dumpable has its /proc files (pagemap, fd) owned
  // by root, so it cannot read them itself.  Only root may ask for its
  // checkpoint (crctl::may_request); for that capture it is made dumpable,
  // and made undumpable again right after.
  const bool undumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1;
  if (undumpable) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  int rc;
  if (G.cs_depth.load() > 0) {
    rc = -1;
    G.result_errno = CR_ETEMPFAIL;
  } else {
    rc = run_thread_chain();
  }
  if (undumpable) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  G.cs_gate.store(0);
  futex_wake(&G.cs_gate);
  if (rc == 1) {
    // Restarted: the requester and its fds belong to the old process.
    set_current_request(nullptr);
    return 0;
  }
  int status =
      rc < 0 ? (G.result_errno ? G.result_errno : (G.fail_errno ? G.fail_errno.load() : EIO)) : 0;
  if (!r->replied) control_reply(r->conn, status, false, g_image_bytes);
  // Any other after-signal (SIGTERM, --signal N) once the process runs again.
  const bool later_signal = r->after_signal > 0 && r->after_signal < 65 &&
                            r->after_signal != SIGKILL && r->after_signal != SIGSTOP;
  // A committing requester first gives the image its name (see
  // commit_then_signal); with no signal to apply, its commit is only acked.
  bool go = rc == 0;
  if (go && r->commit) {
    go = crctl::wait_commit(r->conn, -1) == 1;
    if (go) control_reply(r->conn, 0, false, g_image_bytes);
  }
  if (go && later_signal) kill(getpid(), r->after_signal);
  remove_internal_fd(r->conn);
  remove_internal_fd(r->image_fd);
  close(r->conn);
  close(r->image_fd);
  set_current_request(nullptr);
  return rc;
}

}  // namespace crrt
