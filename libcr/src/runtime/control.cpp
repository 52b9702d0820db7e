// control.cpp -- the control socket between a requester and a libcr process.
//
// Each libcr process listens on the abstract Unix socket
// "@crmpi-libcr.<pid>" (SOCK_SEQPACKET).  A request is one WireRequest with
// the image fd attached (SCM_RIGHTS); the reply is one WireReply.  Only the
// same uid (or root) may ask: checked with SO_PEERCRED.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

namespace crrt {

socklen_t control_address(pid_t pid, struct sockaddr_un* a) {
  // Abstract namespace: leading NUL, no terminator counted.
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  int n =
      snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "crmpi-libcr.%d", static_cast<int>(pid));
  return static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

int control_listen(pid_t pid) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct sockaddr_un a;
  const socklen_t len = control_address(pid, &a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || listen(fd, 8) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

// One message with room for one passed fd: both ends of a request use it.
static void fd_message(struct msghdr* m, struct iovec* iov, char* cbuf, size_t cbuf_len) {
  memset(m, 0, sizeof *m);
  m->msg_iov = iov;
  m->msg_iovlen = 1;
  m->msg_control = cbuf;
  m->msg_controllen = cbuf_len;
}

int control_request(int sock, const cr_checkpoint_args_t* a, bool self) {
  WireRequest w;
  memset(&w, 0, sizeof w);
  w.magic = kRequestMagic;
  w.version = 1;
  w.flags = a->cr_flags;
  w.after_signal = a->cr_signal;
  w.timeout_s = a->cr_timeout;
  w.self = self;
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = {&w, sizeof w};
  struct msghdr m;
  fd_message(&m, &iov, cbuf, sizeof cbuf);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &a->cr_fd, sizeof(int));
  return sendmsg(sock, &m, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof w) ? 0 : -errno;
}

int control_receive(int listen_fd, Request* r) {
  int c = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return -errno;
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
      (cred.uid != getuid() && cred.uid != 0)) {
    control_reply(c, CR_ENOSUPPORT, false, 0);
    close(c);
    return -EPERM;
  }
  // A client that connects and says nothing must not hold the manager.
  struct timeval tv = {5, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  WireRequest w;
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {&w, sizeof w};
  struct msghdr m;
  fd_message(&m, &iov, cbuf, sizeof cbuf);
  ssize_t n = recvmsg(c, &m, MSG_CMSG_CLOEXEC);
  int fd = -1;
  for (cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
    if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
      memcpy(&fd, CMSG_DATA(h), sizeof fd);
  if (n != static_cast<ssize_t>(sizeof w) || w.magic != kRequestMagic || w.version != 1 || fd < 0) {
    if (fd >= 0) close(fd);
    control_reply(c, EINVAL, false, 0);
    close(c);
    return -EINVAL;
  }
  r->conn = c;
  r->image_fd = fd;
  r->after_signal = w.after_signal;
  r->timeout_s = w.timeout_s;
  r->flags = w.flags;
  r->self = w.self != 0;
  return 0;
}

int control_reply(int conn, int status, bool restarted, uint64_t bytes) {
  WireReply w;
  memset(&w, 0, sizeof w);
  w.magic = kReplyMagic;
  w.status = status;
  w.restarted = restarted ? 1 : 0;
  w.image_bytes = bytes;
  return send(conn, &w, sizeof w, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof w) ? 0 : -errno;
}

}  // namespace crrt
