// fds.cpp -- file descriptors: the capture loop, libcr's own fds, socket
// placeholders.
//
// Captured per fd: number, kind, open flags, FD_CLOEXEC, offset, identity
// (dev, inode, size, mtime) and the path from /proc/self/fd.  What else a
// kind records, and how it is restored, is in that kind's file in
// ../fdkinds (the ops table).  Sockets and kinds libcr does not know are
// recorded, never refused: after a restart they are placeholders on which
// I/O fails with ECONNRESET (seed 004), rather than a closed number an
// open() could silently reuse; the interposed I/O below does that.
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../fdkinds/fdops.h"
#include <pthread.h>

#include "internal.h"

namespace crrt {

bool is_internal_fd(int fd) {
  Globals& G = g();
  for (int i = 0; i < G.ninternal; ++i)
    if (G.internal_fds[i] == fd) return true;
  for (int i = 0; i < G.nexcluded; ++i)
    if (G.excluded_fds[i] == fd) return true;
  for (int i = 0; i < G.nself; ++i)
    if (G.self_fds[i] == fd) return true;
  return false;
}

void add_internal_fd(int fd) {
  Globals& G = g();
  if (fd >= 0 && G.ninternal < kMaxInternalFds && !is_internal_fd(fd))
    G.internal_fds[G.ninternal++] = fd;
}

void remove_internal_fd(int fd) {
  Globals& G = g();
  for (int i = 0; i < G.ninternal; ++i)
    if (G.internal_fds[i] == fd) G.internal_fds[i] = G.internal_fds[--G.ninternal];
}

// Fills the probe of @fd: what every kind's match function looks at.
static void probe_fd(crimg::Encoder* e, int fd, char* path, size_t cap, crfd::FdProbe* p) {
  Globals& G = g();
  p->fd = fd;
  char link[64];
  snprintf(link, sizeof link, "/proc/thread-self/fd/%d", fd);
  ssize_t pl = readlink(link, path, cap - 1);
  path[pl > 0 ? pl : 0] = '\0';
  p->path = path;
  p->path_len = pl > 0 ? static_cast<size_t>(pl) : 0;
  p->deleted = pl > 10 && strcmp(path + pl - 10, " (deleted)") == 0;
  memset(&p->st, 0, sizeof p->st);
  fstat(fd, &p->st);
  p->flags = fcntl(fd, F_GETFL);
  p->fd_flags = fcntl(fd, F_GETFD);
  p->offset = lseek(fd, 0, SEEK_CUR);
  p->own_image = false;
  for (int j = 0; j < G.nself; ++j) p->own_image |= G.self_image_fds[j] == fd;
  p->room = e->room();
}

// Payload: u32 count, then one record per fd, written by its kind's
// capture (../fdkinds).
int encode_fds(crimg::Encoder* e, crimg::Scratch* s) {
  Globals& G = g();
  int dir = open("/proc/thread-self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -errno;
  // Collect the numbers first: the capture itself opens fds.
  const int kMax = 65536;
  int* nums = static_cast<int*>(s->alloc(kMax * sizeof(int)));
  if (!nums) return -ENOMEM;
  int n = 0;
  alignas(8) char buf[4096];
  for (;;) {
    long got = syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      if (d->d_name[0] != '.' && n < kMax) {
        int fd = atoi(d->d_name);
        if (fd != dir && !is_internal_fd(fd)) nums[n++] = fd;
      }
      off += d->d_reclen;
    }
  }
  close(dir);

  crfd::CaptureCtx c;
  c.e = e;
  c.pipecap = 1 << 20;
  c.pipebuf = static_cast<char*>(s->alloc(c.pipecap));
  c.placeholders = G.placeholder_fd;
  c.max_placeholders = kMaxPlaceholders;
  G.nplaceholders = 0;

  e->pod(static_cast<uint32_t>(n));
  int rc = 0;
  for (int i = 0; i < n && rc == 0; ++i) {
    char path[4096];
    crfd::FdProbe p;
    probe_fd(e, nums[i], path, sizeof path, &p);
    const crfd::FdOps& ops = crfd::classify(p);
    crimg::FdRecord r = crfd::base_record(p);
    r.kind = ops.kind;
    rc = ops.capture ? ops.capture(c, p, r) : -ENOSYS;
  }
  G.nplaceholders = c.nplaceholders;
  if (rc != 0) return rc;
  return e->overflow() ? -ENOMEM : 0;
}

// ------------------------------------------------------------ placeholders
// After a restart, activate_placeholders() notes the inode of each
// placeholder fd (set up by cr_restart: a socket whose peer is closed).  The
// interposed I/O calls fail with ECONNRESET on an fd that still is that
// object; once the application closes and reuses the number, the inode
// differs and the call goes through.

void activate_placeholders() {
  Globals& G = g();
  for (int i = 0; i < G.nplaceholders; ++i) {
    struct stat st;
    G.placeholder_ino[i] = fstat(G.placeholder_fd[i], &st) == 0 ? st.st_ino : 0;
  }
  G.placeholders_live.store(G.nplaceholders > 0 ? 1 : 0);
}

static bool is_placeholder(int fd) {
  Globals& G = g();
  if (!G.placeholders_live.load(std::memory_order_relaxed)) return false;
  for (int i = 0; i < G.nplaceholders; ++i) {
    if (G.placeholder_fd[i] != fd || G.placeholder_ino[i] == 0) continue;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_ino == G.placeholder_ino[i]) {
      errno = ECONNRESET;
      return true;
    }
  }
  return false;
}

}  // namespace crrt

// Interposed I/O: ECONNRESET on placeholders, otherwise the real call.  The
// real functions are resolved at load time (resolve_real_io), never inside
// a checkpoint, where dlsym could allocate.
namespace crrt {
namespace {
struct RealIo {
  ssize_t (*read)(int, void*, size_t);
  ssize_t (*write)(int, const void*, size_t);
  ssize_t (*readv)(int, const struct iovec*, int);
  ssize_t (*writev)(int, const struct iovec*, int);
  ssize_t (*recv)(int, void*, size_t, int);
  ssize_t (*send)(int, const void*, size_t, int);
  ssize_t (*recvfrom)(int, void*, size_t, int, struct sockaddr*, socklen_t*);
  ssize_t (*sendto)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
  ssize_t (*recvmsg)(int, struct msghdr*, int);
  ssize_t (*sendmsg)(int, const struct msghdr*, int);
} real_io;
}  // namespace

void resolve_real_io() {
  if (real_io.read) return;
#define CR_RESOLVE(name) \
  real_io.name = reinterpret_cast<decltype(real_io.name)>(next_symbol(#name))
  CR_RESOLVE(write);
  CR_RESOLVE(readv);
  CR_RESOLVE(writev);
  CR_RESOLVE(recv);
  CR_RESOLVE(send);
  CR_RESOLVE(recvfrom);
  CR_RESOLVE(sendto);
  CR_RESOLVE(recvmsg);
  CR_RESOLVE(sendmsg);
  CR_RESOLVE(read);  // last: marks the table complete
#undef CR_RESOLVE
}
}  // namespace crrt

#define CR_IO(name, ...)                   \
  crrt::resolve_real_io();                 \
  if (crrt::is_placeholder(fd)) return -1; \
  return crrt::real_io.name(__VA_ARGS__)

extern "C" {

ssize_t read(int fd, void* b, size_t n) {
  CR_IO(read, fd, b, n);
}
ssize_t write(int fd, const void* b, size_t n) {
  CR_IO(write, fd, b, n);
}
ssize_t readv(int fd, const struct iovec* v, int c) {
  CR_IO(readv, fd, v, c);
}
ssize_t writev(int fd, const struct iovec* v, int c) {
  CR_IO(writev, fd, v, c);
}
ssize_t recv(int fd, void* b, size_t n, int f) {
  CR_IO(recv, fd, b, n, f);
}
ssize_t send(int fd, const void* b, size_t n, int f) {
  CR_IO(send, fd, b, n, f);
}
ssize_t recvfrom(int fd, void* b, size_t n, int f, struct sockaddr* a, socklen_t* l) {
  CR_IO(recvfrom, fd, b, n, f, a, l);
}
ssize_t sendto(int fd, const void* b, size_t n, int f, const struct sockaddr* a, socklen_t l) {
  CR_IO(sendto, fd, b, n, f, a, l);
}
ssize_t recvmsg(int fd, struct msghdr* m, int f) {
  CR_IO(recvmsg, fd, m, f);
}
ssize_t sendmsg(int fd, const struct msghdr* m, int f) {
  CR_IO(sendmsg, fd, m, f);
}

}  // extern "C"

