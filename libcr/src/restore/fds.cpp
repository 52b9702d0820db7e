// fds.cpp (restore side) -- rebuild the file descriptor table.
//
// fds 0, 1 and 2 are cr_restart's own: the restarted process talks to the
// terminal or files of the restarting command (seed 000).  Every other fd
// is rebuilt by its kind's restore (../fdkinds, the ops table) and placed
// at its number here.  Each new object is first parked above the highest
// target number, so that placing one fd never clobbers another still to be
// placed.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "../fdkinds/fdops.h"
#include "state.h"

namespace crrestore {
namespace {

const char* type_name(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "a regular file";
    case S_IFDIR:
      return "a directory";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
    case S_IFLNK:
      return "a symbolic link";
    default:
      return "of unknown type";
  }
}

void refuse_type(State& s, const std::string& what, const struct stat& st, unsigned type) {
  s.fail(what + " is " + type_name(st.st_mode) + " now; the checkpoint recorded " +
         type_name(type));
}

}  // namespace

bool check_type(State& s, const std::string& path, unsigned type, const std::string& what) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return false;
  if ((st.st_mode & S_IFMT) != type) refuse_type(s, what, st, type);
  return true;
}

int open_no_block(State& s, const std::string& path, int flags, unsigned type,
                  const std::string& what) {
  int fd = open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    s.fail("cannot stat " + what + ": " + strerror(e));
  }
  if ((st.st_mode & S_IFMT) != type) {  // replaced since check_fds/check_files
    close(fd);
    refuse_type(s, what, st, type);
  }
  if (!(flags & O_NONBLOCK) && !(flags & O_PATH)) {
    const int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
      const int e = errno;
      close(fd);
      s.fail("cannot clear O_NONBLOCK on " + what + ": " + strerror(e));
    }
  }
  return fd;
}

// The kind of @f (validated by the image reader: one of the table's).
static const crfd::FdOps& ops_of(State& s, const crimg::FdInfo& f) {
  const crfd::FdOps* ops = crfd::ops_for(f.rec.kind);
  if (!ops || !ops->restore)
    s.fail("fd " + std::to_string(f.rec.fd) + " has kind " + std::to_string(f.rec.kind) +
           ", which this cr_restart cannot restore");
  return *ops;
}

void check_fds(State& s) {
  for (int fd : s.opt.inherit) {
    if (fcntl(fd, F_GETFD) < 0)
      s.fail("--inherit-fd " + std::to_string(fd) + ": fd " + std::to_string(fd) + " is not open");
    for (const crimg::FdInfo& f : s.img.fds)
      if (f.rec.fd == fd)
        s.fail("--inherit-fd " + std::to_string(fd) + ": the image has its own fd " +
               std::to_string(fd));
  }
  crfd::RestoreCtx c(s);
  for (const crimg::FdInfo& f : s.img.fds) {
    const crfd::FdOps& ops = ops_of(s, f);
    if (ops.check) ops.check(c, f);
  }
}

void restore_fds(State& s) {
  int maxfd = 2;
  for (const crimg::FdInfo& f : s.img.fds) maxfd = std::max(maxfd, f.rec.fd);
  const int above = maxfd + 1;
  // The image's fds may sit above our own RLIMIT_NOFILE (a program that
  // raised it): raise ours enough for them and for parking, up to the
  // image's hard limit where permitted.  restore_process() then sets the
  // image's exact limits.
  struct rlimit cur;
  if (getrlimit(RLIMIT_NOFILE, &cur) == 0) {
    const rlim_t need = static_cast<rlim_t>(above) + s.img.fds.size() + 16;
    const rlim_t img_max = s.img.process.rec.rlimits[RLIMIT_NOFILE][1];
    if (cur.rlim_cur < need) {
      struct rlimit want = {need, std::max(cur.rlim_max, std::max<rlim_t>(need, img_max))};
      if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
        want.rlim_max = cur.rlim_max;
        want.rlim_cur = std::min(need, cur.rlim_max);
        setrlimit(RLIMIT_NOFILE, &want);
      }
    }
  }

  // Close everything of ours beyond stdio (the image is fully loaded).
  std::vector<int> mine;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) {
      int fd = atoi(e->d_name);
      if (e->d_name[0] != '.' && fd > 2 && fd != dirfd(d) &&
          std::find(s.opt.inherit.begin(), s.opt.inherit.end(), fd) == s.opt.inherit.end())
        mine.push_back(fd);
    }
    closedir(d);
  }
  for (int fd : mine) close(fd);

  crfd::RestoreCtx c(s);
  c.above = above;
  for (const crimg::FdInfo& f : s.img.fds) {
    const crimg::FdRecord& r = f.rec;
    const int t = ops_of(s, f).restore(c, f);
    if (t == crfd::kKeep) continue;
    const std::string what = crfd::RestoreCtx::what(f);
    if (t < 0) s.fail("cannot reopen " + what + ": " + strerror(errno));
    if (dup3(t, r.fd, (r.fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
      s.fail("cannot place " + what + ": " + strerror(errno));
    close(t);
  }
  // Pipe ends not taken by any fd are closed, so a pipe whose other end was
  // outside the process reads EOF / writes EPIPE.
  for (int p : c.parked) close(p);
}

}  // namespace crrestore
