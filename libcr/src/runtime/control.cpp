// control.cpp -- libcr's end of the control channel (libcr/src/control):
// its listening socket, and turning a connection into a Request.
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

namespace crrt {

int control_listen(pid_t pid) {
  crctl::FolderProblem why = crctl::kFolderOk;
  const uid_t uid = geteuid();
  int fd = crctl::listen_socket(pid, uid, &why);
  if (fd >= 0) return fd;
  // Loud: a process that cannot be checkpointed must not look as if it could.
  char dir[64];
  crctl::socket_folder(uid, dir, sizeof dir);
  write_stderr("libcr: WARNING: checkpoints are DISABLED for this process: cannot create its "
               "control socket in ",
               dir, ": ");
  if (why != crctl::kFolderOk && why != crctl::kFolderCannotMake) {
    write_stderr("the folder ", crctl::folder_problem_text(why),
                 "; remove it or fix its owner and mode (0700)\n");
  } else {
    write_stderr(strerror(-fd), "\n");
  }
  return fd;
}

void control_forget_socket() {
  Globals& G = g();
  if (G.listen_fd >= 0 && G.pid == getpid()) crctl::unlink_socket(G.pid, geteuid());
}

int control_receive(int listen_fd, Request* r) {
  crctl::WireRequest w;
  int rc = crctl::accept_request(listen_fd, &r->conn, &r->image_fd, &w, &r->requester_uid);
  if (rc) return rc;
  r->after_signal = w.after_signal;
  r->timeout_s = w.timeout_s;
  r->flags = w.flags;
  r->self = (w.options & crctl::kRequestSelf) != 0;
  r->commit = (w.options & crctl::kRequestCommit) != 0;
  return 0;
}

int control_reply(int conn, int status, bool restarted, uint64_t bytes, bool written) {
  const CheckpointInfo info = last_checkpoint_info();
  crctl::WireReply w;
  memset(&w, 0, sizeof w);
  w.magic = crctl::kReplyMagic;
  w.status = status;
  w.restarted = restarted ? 1 : 0;
  w.phase = written ? crctl::kPhaseWritten : crctl::kPhaseDone;
  w.owner_uid = geteuid();
  w.image_bytes = bytes;
  w.image_digest = status == 0 && !restarted ? info.digest : 0;
  return crctl::send_reply(conn, w);
}

}  // namespace crrt
