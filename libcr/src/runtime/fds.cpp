// fds.cpp -- file descriptors: capture, libcr's own fds, socket placeholders.
//
// Captured per fd: number, kind, open flags, FD_CLOEXEC, offset, identity
// (dev, inode, size, mtime) and the path from /proc/self/fd.  Pipes record
// their inode so that both ends are rebuilt as one pipe, and the bytes
// sitting in the pipe (copied with tee(2), which does not consume them).
// Sockets and kinds libcr does not know are recorded, never refused: after a
// restart they are placeholders on which I/O fails with ECONNRESET (seed
// 004), rather than a closed number an open() could silently reuse.
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

namespace crrt {

bool is_internal_fd(int fd) {
  Globals& G = g();
  for (int i = 0; i < G.ninternal; ++i)
    if (G.internal_fds[i] == fd) return true;
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

static bool starts_with(const char* s, const char* p) {
  return strncmp(s, p, strlen(p)) == 0;
}

// Copies the bytes queued in the pipe read end @fd without consuming them.
static size_t peek_pipe(int fd, char* out, size_t cap) {
  int tmp[2];
  if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) != 0) return 0;
  fcntl(tmp[1], F_SETPIPE_SZ, static_cast<int>(cap));
  ssize_t n = tee(fd, tmp[1], cap, SPLICE_F_NONBLOCK);
  size_t got = 0;
  while (n > 0 && got < static_cast<size_t>(n)) {
    ssize_t r = read(tmp[0], out + got, static_cast<size_t>(n) - got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  close(tmp[0]);
  close(tmp[1]);
  return got;
}

int encode_fds(crimg::Encoder* e, crimg::Scratch* s) {
  Globals& G = g();
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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

  const size_t kPipeCap = 1 << 20;
  char* pipebuf = static_cast<char*>(s->alloc(kPipeCap));
  uint64_t seen_pipes[64];
  int nseen = 0;
  G.nplaceholders = 0;

  e->pod(static_cast<uint32_t>(n));
  for (int i = 0; i < n; ++i) {
    const int fd = nums[i];
    crimg::FdRecord r;
    memset(&r, 0, sizeof r);
    r.fd = fd;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t pl = readlink(link, path, sizeof path - 1);
    path[pl > 0 ? pl : 0] = '\0';
    struct stat st;
    memset(&st, 0, sizeof st);
    fstat(fd, &st);
    int fl = fcntl(fd, F_GETFL);
    r.open_flags = fl < 0 ? 0 : static_cast<uint32_t>(fl);
    r.fd_flags = static_cast<uint32_t>(fcntl(fd, F_GETFD));
    r.dev = st.st_dev;
    r.ino = st.st_ino;
    r.size = static_cast<uint64_t>(st.st_size);
    r.mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    r.mode = st.st_mode;
    r.offset = lseek(fd, 0, SEEK_CUR);
    const char* data = nullptr;
    size_t data_len = 0;

    const bool deleted = pl > 10 && strcmp(path + pl - 10, " (deleted)") == 0;
    bool own_image = false;
    for (int j = 0; j < G.nself; ++j) own_image |= G.self_image_fds[j] == fd;
    if (own_image) {
      // A self-checkpoint's own image file: the restarted process gets
      // /dev/null there (writes vanish, close works, no number reuse).
      r.kind = crimg::kFdDevice;
      strcpy(path, "/dev/null");
      r.offset = 0;
    } else if (fd <= 2) {
      r.kind = crimg::kFdStdio;
    } else if (fl >= 0 && (fl & O_PATH)) {
      r.kind = crimg::kFdPath;
    } else if (S_ISREG(st.st_mode) && !deleted && path[0] == '/') {
      r.kind = crimg::kFdFile;
    } else if (S_ISDIR(st.st_mode) && path[0] == '/') {
      r.kind = crimg::kFdDir;
    } else if (S_ISCHR(st.st_mode) && starts_with(path, "/dev/")) {
      r.kind = crimg::kFdDevice;
    } else if (S_ISFIFO(st.st_mode) && starts_with(path, "pipe:")) {
      r.kind = crimg::kFdPipe;
      r.pipe_id = st.st_ino;
      int sz = fcntl(fd, F_GETPIPE_SZ);
      r.pipe_size = sz > 0 ? static_cast<uint32_t>(sz) : 0;
      bool seen = false;
      for (int j = 0; j < nseen && !seen; ++j) seen = seen_pipes[j] == st.st_ino;
      if (!seen && (r.open_flags & O_ACCMODE) == O_RDONLY && pipebuf) {
        if (nseen < 64) seen_pipes[nseen++] = st.st_ino;
        data = pipebuf;
        data_len = peek_pipe(fd, pipebuf, kPipeCap);
      }
    } else if (S_ISREG(st.st_mode) && deleted && path[0] == '/' &&
               static_cast<uint64_t>(st.st_size) <= crimg::kMaxDeletedFileBytes &&
               static_cast<uint64_t>(st.st_size) + 65536 < e->room() &&
               (r.open_flags & O_ACCMODE) != O_WRONLY) {
      // An unlinked file (tmpfile()): keep its bytes; it comes back as an
      // unlinked file again.  Read into the encoder's own buffer.
      r.kind = crimg::kFdDeleted;
      path[pl - 10] = '\0';
      e->pod(r);
      e->str(path);
      uint32_t n32 = static_cast<uint32_t>(st.st_size);
      e->pod(n32);
      char* dst = e->reserve(n32);
      ssize_t got = dst ? pread(fd, dst, n32, 0) : -1;
      if (got != static_cast<ssize_t>(n32)) return -EIO;
      continue;
    } else {
      r.kind = S_ISSOCK(st.st_mode) ? crimg::kFdSocket : crimg::kFdUnknown;
      if (G.nplaceholders < kMaxPlaceholders) G.placeholder_fd[G.nplaceholders++] = fd;
    }
    e->pod(r);
    e->str(path);
    e->str(data, data_len);
  }
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
  real_io.name = reinterpret_cast<decltype(real_io.name)>(dlsym(RTLD_NEXT, #name))
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
