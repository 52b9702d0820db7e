// fds.cpp (restore side) -- rebuild the file descriptor table.
//
// fds 0, 1 and 2 are cr_restart's own: the restarted process talks to the
// terminal or files of the restarting command (seed 000).  Every other fd
// is reopened at its number with its flags and offset.  Each new object is
// first parked above the highest target number, so that placing one fd
// never clobbers another still to be placed.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "state.h"

namespace crrestore {
namespace {

constexpr int kReopenFlags =
    O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_NOATIME | O_DIRECT;

int park(int fd, int above) {
  if (fd < 0) return fd;
  int p = fcntl(fd, F_DUPFD_CLOEXEC, above);
  close(fd);
  return p;
}

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

// What fd kind @kind must find at its path, or 0 for kinds not reopened by
// path.  Devices are character devices (that is all libcr records as one).
unsigned expected_type(uint32_t kind) {
  switch (kind) {
    case crimg::kFdFile:
      return S_IFREG;
    case crimg::kFdDir:
      return S_IFDIR;
    case crimg::kFdDevice:
      return S_IFCHR;
    default:
      return 0;
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

void check_fds(State& s) {
  for (const crimg::FdInfo& f : s.img.fds) {
    const unsigned type = expected_type(f.rec.kind);
    if (!type) continue;
    const std::string what = "file " + f.path + " (fd " + std::to_string(f.rec.fd) + ")";
    if (!check_type(s, f.path, type, what)) s.fail(what + " is missing: " + strerror(errno));
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
      if (e->d_name[0] != '.' && fd > 2 && fd != dirfd(d)) mine.push_back(fd);
    }
    closedir(d);
  }
  for (int fd : mine) close(fd);

  std::map<uint64_t, std::pair<int, int>> pipes;  // pipe id -> parked ends
  std::vector<int> parked;
  for (const crimg::FdInfo& f : s.img.fds) {
    const crimg::FdRecord& r = f.rec;
    const std::string what = "fd " + std::to_string(r.fd) + " (" + f.path + ")";
    int t = -1;
    switch (r.kind) {
      case crimg::kFdStdio:
        continue;
      case crimg::kFdFile:
      case crimg::kFdDevice:
        t = park(open_no_block(s, f.path, static_cast<int>(r.open_flags & kReopenFlags),
                               expected_type(r.kind), what),
                 above);
        if (t >= 0 && r.kind == crimg::kFdFile) lseek(t, r.offset, SEEK_SET);
        break;
      case crimg::kFdDir:
        t = park(open_no_block(s, f.path, O_RDONLY | O_DIRECTORY, S_IFDIR, what), above);
        if (t >= 0) lseek(t, r.offset, SEEK_SET);
        break;
      case crimg::kFdDeleted: {
        // Unlinked again, in its old folder if possible, with its bytes.
        const std::string dir = f.path.substr(0, f.path.find_last_of('/') + 1);
        int tf = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, r.mode & 0777);
        if (tf < 0) tf = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, r.mode & 0777);
        if (tf >= 0 && !f.data.empty() &&
            write(tf, f.data.data(), f.data.size()) != static_cast<ssize_t>(f.data.size())) {
          s.fail("cannot recreate the unlinked file of " + what + ": " + strerror(errno));
        }
        if (tf >= 0) {
          lseek(tf, r.offset, SEEK_SET);
          fcntl(tf, F_SETFL, r.open_flags & (O_APPEND | O_NONBLOCK));
        }
        t = park(tf, above);
        break;
      }
      case crimg::kFdPath:
        t = park(open(f.path.c_str(), O_PATH | O_CLOEXEC), above);  // never blocks
        break;
      case crimg::kFdPipe: {
        auto it = pipes.find(r.pipe_id);
        if (it == pipes.end()) {
          int p[2];
          if (pipe2(p, O_CLOEXEC) != 0)
            s.fail("cannot create a pipe for " + what + ": " + strerror(errno));
          std::pair<int, int> ends = {park(p[0], above), park(p[1], above)};
          if (r.pipe_size) fcntl(ends.second, F_SETPIPE_SZ, static_cast<int>(r.pipe_size));
          fcntl(ends.second, F_SETFL, O_NONBLOCK);  // a refill never blocks
          it = pipes.emplace(r.pipe_id, ends).first;
          parked.push_back(ends.first);
          parked.push_back(ends.second);
        }
        if (!f.data.empty()) {
          ssize_t w = write(it->second.second, f.data.data(), f.data.size());
          if (w != static_cast<ssize_t>(f.data.size())) {
            s.fail("cannot put the " + std::to_string(f.data.size()) + " bytes of " + what +
                   " back: the pipe is smaller here (pipe-max-size?)");
          }
        }
        t = (r.open_flags & O_ACCMODE) == O_RDONLY ? it->second.first : it->second.second;
        if (dup3(t, r.fd, (r.fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
          s.fail("cannot place " + what + ": " + strerror(errno));
        fcntl(r.fd, F_SETFL, r.open_flags & O_NONBLOCK);
        continue;
      }
      default: {  // socket or unknown: a placeholder (seed 004)
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
          s.fail("cannot create a placeholder for " + what);
        close(sp[1]);
        t = park(sp[0], above);
        if (!s.opt.quiet) {
          s.warnings.push_back(what + " was a " + crimg::fd_kind_name(r.kind) +
                               "; restored as a placeholder whose I/O fails with ECONNRESET");
        }
        break;
      }
    }
    if (t < 0) s.fail("cannot reopen " + what + ": " + strerror(errno));
    if (dup3(t, r.fd, (r.fd_flags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
      s.fail("cannot place " + what + ": " + strerror(errno));
    close(t);
  }
  // Pipe ends not taken by any fd are closed, so a pipe whose other end was
  // outside the process reads EOF / writes EPIPE.
  for (int p : parked) close(p);
}

}  // namespace crrestore
