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

}  // namespace

void check_fds(State& s) {
  for (const crimg::FdInfo& f : s.img.fds) {
    if (f.rec.kind != crimg::kFdFile && f.rec.kind != crimg::kFdDir) continue;
    struct stat st;
    if (stat(f.path.c_str(), &st) != 0) {
      s.fail("file " + f.path + " (fd " + std::to_string(f.rec.fd) +
             ") is missing: " + strerror(errno));
    }
  }
}

void restore_fds(State& s) {
  int maxfd = 2;
  for (const crimg::FdInfo& f : s.img.fds) maxfd = std::max(maxfd, f.rec.fd);
  const int above = maxfd + 1;

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
        t = park(open(f.path.c_str(), static_cast<int>(r.open_flags & kReopenFlags) | O_CLOEXEC),
                 above);
        if (t >= 0 && r.kind == crimg::kFdFile) lseek(t, r.offset, SEEK_SET);
        break;
      case crimg::kFdDir:
        t = park(open(f.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), above);
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
        t = park(open(f.path.c_str(), O_PATH | O_CLOEXEC), above);
        break;
      case crimg::kFdPipe: {
        auto it = pipes.find(r.pipe_id);
        if (it == pipes.end()) {
          int p[2];
          if (pipe2(p, O_CLOEXEC) != 0)
            s.fail("cannot create a pipe for " + what + ": " + strerror(errno));
          std::pair<int, int> ends = {park(p[0], above), park(p[1], above)};
          if (r.pipe_size) fcntl(ends.second, F_SETPIPE_SZ, static_cast<int>(r.pipe_size));
          it = pipes.emplace(r.pipe_id, ends).first;
          parked.push_back(ends.first);
          parked.push_back(ends.second);
        }
        if (!f.data.empty()) {
          ssize_t w = write(it->second.second, f.data.data(), f.data.size());
          if (w != static_cast<ssize_t>(f.data.size()))
            s.warnings.push_back("could not refill " + what);
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
