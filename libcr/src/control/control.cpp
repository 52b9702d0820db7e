// control.cpp -- the control channel's rules: where sockets live, who may
// ask whom, and the messages.  See control.h.
#include "control.h"

#include "libcr.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace crctl {
namespace {

// Appends decimal @v at @p; returns the new end.  No stdio: signal-safe.
char* put_uint(char* p, char* end, unsigned long v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n && p < end) *p++ = tmp[--n];
  return p;
}

char* put_str(char* p, char* end, const char* s) {
  while (*s && p < end) *p++ = *s++;
  return p;
}

// One message with room for one passed fd.
void fd_message(struct msghdr* m, struct iovec* iov, char* cbuf, size_t cbuf_len) {
  memset(m, 0, sizeof *m);
  m->msg_iov = iov;
  m->msg_iovlen = 1;
  m->msg_control = cbuf;
  m->msg_controllen = cbuf_len;
}

}  // namespace

const char* error_text(int e) {
  switch (e) {
    case CR_ETEMPFAIL:
      return "checkpoint failed temporarily (cancelled by the application or a thread did not "
             "stop); try again";
    case CR_EPERMFAIL:
      return "checkpoint failed permanently (cancelled by the application)";
    case CR_ENOSUPPORT:
      return "process is not checkpointable (libcr not loaded: start it with cr_run or link -lcr)";
    case CR_ERESTARTED:
      return "restarted from a checkpoint";
    default:
      return strerror(e);
  }
}

int socket_folder(uid_t uid, char* out, size_t n) {
  char* end = out + n - 1;
  char* p = uid == 0 ? put_str(out, end, "/run/crmpi")
                     : put_uint(put_str(out, end, "/tmp/crmpi-"), end, uid);
  if (p >= end) return -ENAMETOOLONG;
  *p = '\0';
  return static_cast<int>(p - out);
}

socklen_t socket_address(uid_t uid, pid_t pid, struct sockaddr_un* a, SocketKind kind) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  char* const end = a->sun_path + sizeof a->sun_path - 1;
  int n = socket_folder(uid, a->sun_path, sizeof a->sun_path);
  if (n < 0) return 0;
  char* p = put_uint(put_str(a->sun_path + n, end, kind == kSocketJob ? "/job." : "/libcr."), end, static_cast<unsigned long>(pid));
  *p = '\0';
  return static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + (p - a->sun_path) + 1);
}

FolderProblem check_folder(uid_t uid, bool create, uid_t* owner) {
  char dir[64];
  if (socket_folder(uid, dir, sizeof dir) < 0) return kFolderNotDir;
  struct stat st;
  if (lstat(dir, &st) != 0) {
    if (errno != ENOENT) return kFolderCannotMake;
    if (!create) return kFolderMissing;
    // The parent of /run/crmpi always exists; /tmp too.  mkdir is exclusive:
    // if someone else made it first, the checks below see it.
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return kFolderCannotMake;
    if (lstat(dir, &st) != 0) return kFolderCannotMake;
  }
  if (owner) *owner = st.st_uid;
  if (!S_ISDIR(st.st_mode)) return kFolderNotDir;
  if (st.st_uid != uid) return kFolderWrongOwner;
  if (st.st_mode & 077) return kFolderOpen;
  return kFolderOk;
}

const char* folder_problem_text(FolderProblem p) {
  switch (p) {
    case kFolderOk:
      return "fine";
    case kFolderMissing:
      return "does not exist";
    case kFolderNotDir:
      return "is not a directory (or is a symbolic link)";
    case kFolderWrongOwner:
      return "is owned by another user";
    case kFolderOpen:
      return "may be entered by other users (mode is not 0700)";
    case kFolderCannotMake:
      return "cannot be created";
  }
  return "is unusable";
}

int listen_socket(pid_t pid, uid_t uid, FolderProblem* why, SocketKind kind) {
  *why = check_folder(uid, true, nullptr);
  if (*why != kFolderOk) return *why == kFolderCannotMake ? -errno : -EPERM;
  struct sockaddr_un a;
  const socklen_t len = socket_address(uid, pid, &a, kind);
  if (!len) return -ENAMETOOLONG;
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  // A file of this name is a dead process's socket (pids are unique among
  // the living), in a folder only we can write: replace it.
  unlink(a.sun_path);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), len) != 0 || fchmod(fd, 0600) != 0 ||
      listen(fd, 8) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

void unlink_socket(pid_t pid, uid_t uid, SocketKind kind) {
  struct sockaddr_un a;
  if (socket_address(uid, pid, &a, kind)) unlink(a.sun_path);
}

Refusal may_request(int conn, uid_t* peer_uid) {
  struct ucred cred;
  socklen_t cl = sizeof cred;
  if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) return kRefusedOtherUser;
  *peer_uid = cred.uid;
  if (cred.uid == 0) return kRefusedNone;  // root may checkpoint anything
  // The kernel's rule for ptrace and core dumps (ptrace_may_access).
  uid_t r, e, s;
  gid_t gr, ge, gs;
  getresuid(&r, &e, &s);
  getresgid(&gr, &ge, &gs);
  if (r != e || e != s || gr != ge || ge != gs) return kRefusedChangedIds;
  if (cred.uid != r || cred.gid != gr) return kRefusedOtherUser;
  if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) return kRefusedNotDumpable;
  return kRefusedNone;
}

int accept_request(int listen_fd, int* conn, int* image_fd, WireRequest* req, uid_t* peer_uid) {
  int c = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return -errno;
  WireReply no;
  memset(&no, 0, sizeof no);
  no.magic = kReplyMagic;
  no.owner_uid = geteuid();
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
  if (n > 0)
    for (cmsghdr* h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
      if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(h), sizeof fd);
  // The request is read whole before any answer: a reply to a peer whose
  // message is still unread would reach it as a connection reset.
  uid_t peer = 0;
  if (Refusal why = may_request(c, &peer)) {
    if (fd >= 0) close(fd);  // never used
    no.status = EPERM;
    no.refusal = why;
    send_reply(c, no);
    close(c);
    return -EPERM;
  }
  if (n != static_cast<ssize_t>(sizeof w) || w.magic != kRequestMagic ||
      w.version != kWireVersion || fd < 0) {
    if (fd >= 0) close(fd);
    no.status = EINVAL;
    no.refusal = kRefusedBadRequest;
    send_reply(c, no);
    close(c);
    return -EINVAL;
  }
  *conn = c;
  *image_fd = fd;
  *req = w;
  *peer_uid = peer;
  return 0;
}

int send_reply(int conn, const WireReply& r) {
  return send(conn, &r, sizeof r, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof r) ? 0 : -errno;
}

int wait_commit(int conn, int timeout_ms) {
  for (;;) {
    struct pollfd p = {conn, POLLIN, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return -ETIMEDOUT;
    if (n < 0) return 0;
    WireCommit c;
    ssize_t r = recv(conn, &c, sizeof c, 0);
    if (r < 0 && errno == EINTR) continue;
    return r == static_cast<ssize_t>(sizeof c) && c.magic == kCommitMagic && c.commit == 1;
  }
}

int read_proc_ids(pid_t pid, ProcIds* ids) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  FILE* f = fopen(path, "re");
  if (!f) return errno == ENOENT ? -ESRCH : -errno;
  char line[256];
  int got = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned a, b, c;
    if (sscanf(line, "Uid: %u %u %u", &a, &b, &c) == 3) {
      ids->uid[0] = a, ids->uid[1] = b, ids->uid[2] = c;
      got |= 1;
    } else if (sscanf(line, "Gid: %u %u %u", &a, &b, &c) == 3) {
      ids->gid[0] = a, ids->gid[1] = b, ids->gid[2] = c;
      got |= 2;
    }
  }
  fclose(f);
  return got == 3 ? 0 : -EIO;
}

int connect_target(pid_t pid, const ProcIds& ids, ConnectProblem* why, SocketKind kind) {
  // The socket is in the folder of the target's euid when libcr started;
  // a process that changed ids since is looked for under each of them.
  int last = -ENOENT;
  static const int kOrder[3] = {1, 0, 2};  // effective first
  for (int i : kOrder) {
    if (i != 1 && ids.uid[i] == ids.uid[1]) continue;
    struct sockaddr_un a;
    const socklen_t len = socket_address(ids.uid[i], pid, &a, kind);
    if (!len) return -ENAMETOOLONG;
    if (i == 1) memcpy(why->path, a.sun_path, sizeof why->path);
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    if (connect(s, reinterpret_cast<sockaddr*>(&a), len) != 0) {
      int e = errno;
      close(s);
      if (i == 1) {
        why->folder = check_folder(ids.uid[1], false, &why->folder_owner);
        last = e == ENOENT || e == ECONNREFUSED || e == EACCES ? -e : -ENOENT;
      }
      continue;
    }
    // The listener's credentials, as of its listen(): it must be the target.
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
      int e = errno;
      close(s);
      return -e;
    }
    const bool same_uid = cred.uid == ids.uid[0] || cred.uid == ids.uid[1] || cred.uid == ids.uid[2];
    if (cred.pid != pid || !same_uid) {
      why->impostor_pid = cred.pid;
      why->impostor_uid = cred.uid;
      close(s);
      return -EPERM;
    }
    return s;
  }
  return last;
}

int send_request(int sock, const WireRequest& r, int image_fd) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  WireRequest w = r;
  struct iovec iov = {&w, sizeof w};
  struct msghdr m;
  fd_message(&m, &iov, cbuf, sizeof cbuf);
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &image_fd, sizeof(int));
  return sendmsg(sock, &m, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof w) ? 0 : -errno;
}

int read_reply(int sock, WireReply* r) {
  for (;;) {
    ssize_t n = recv(sock, r, sizeof *r, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n != static_cast<ssize_t>(sizeof *r) || r->magic != kReplyMagic) return -ESRCH;
    return 0;
  }
}

int send_commit(int sock) {
  WireCommit c = {kCommitMagic, 1};
  return send(sock, &c, sizeof c, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof c) ? 0 : -errno;
}

}  // namespace crctl
