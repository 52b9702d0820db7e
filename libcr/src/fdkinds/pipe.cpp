// pipe.cpp -- kFdPipe: an anonymous pipe.  Every end records the pipe's
// inode (pipe_id), so that the ends of one pipe are rebuilt as one pipe;
// the first read end seen also records the bytes queued in it, copied with
// tee(2), which does not consume them.  An end whose partner was outside
// the process comes back alone: its reads see EOF, its writes EPIPE.
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "fdops.h"

namespace crfd {
namespace {

int match(const FdProbe& p) {
  return S_ISFIFO(p.st.st_mode) && starts_with(p.path, "pipe:") ? kByType : kNoMatch;
}

#if defined(CRFD_RUNTIME)
// Copies the bytes queued in the pipe read end @fd without consuming them.
// Returns -1 if they cannot all be copied (never a silent truncation).
ssize_t peek_pipe(int fd, char* out, size_t cap) {
  int queued = 0;
  if (ioctl(fd, FIONREAD, &queued) != 0 || queued < 0) return -1;
  if (queued == 0) return 0;
  if (static_cast<size_t>(queued) > cap) return -1;
  int tmp[2];
  if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
  ssize_t got = -1;
  if (fcntl(tmp[1], F_SETPIPE_SZ, queued) >= queued) {
    ssize_t n = tee(fd, tmp[1], static_cast<size_t>(queued), SPLICE_F_NONBLOCK);
    size_t done = 0;
    while (n > 0 && done < static_cast<size_t>(n)) {
      ssize_t r = read(tmp[0], out + done, static_cast<size_t>(n) - done);
      if (r <= 0) break;
      done += static_cast<size_t>(r);
    }
    if (done == static_cast<size_t>(queued)) got = static_cast<ssize_t>(done);
  }
  close(tmp[0]);
  close(tmp[1]);
  return got;
}

int capture(CaptureCtx& c, const FdProbe& p, crimg::FdRecord& r) {
  r.pipe_id = p.st.st_ino;
  int sz = fcntl(p.fd, F_GETPIPE_SZ);
  r.pipe_size = sz > 0 ? static_cast<uint32_t>(sz) : 0;
  bool seen = false;
  for (int j = 0; j < c.nseen && !seen; ++j) seen = c.seen_pipes[j] == p.st.st_ino;
  const char* data = nullptr;
  size_t len = 0;
  if (!seen && (r.open_flags & O_ACCMODE) == O_RDONLY && c.pipebuf) {
    if (c.nseen < kMaxSeenPipes) c.seen_pipes[c.nseen++] = p.st.st_ino;
    ssize_t got = peek_pipe(p.fd, c.pipebuf, c.pipecap);
    if (got < 0) return -EIO;  // bytes in a pipe we could not copy
    data = c.pipebuf;
    len = static_cast<size_t>(got);
  }
  encode_fd(*c.e, r, p.path, data, len);
  return 0;
}
#endif

#if defined(CRFD_RESTORE)
// The pipe of @f: created, sized and refilled by its first end.
std::pair<int, int> pipe_of(RestoreCtx& c, const crimg::FdInfo& f) {
  const crimg::FdRecord& r = f.rec;
  auto it = c.pipes.find(r.pipe_id);
  if (it != c.pipes.end()) return it->second;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    c.s.fail("cannot create a pipe for " + RestoreCtx::what(f) + ": " + strerror(errno));
  std::pair<int, int> ends = {c.park(p[0]), c.park(p[1])};
  if (r.pipe_size) fcntl(ends.second, F_SETPIPE_SZ, static_cast<int>(r.pipe_size));
  fcntl(ends.second, F_SETFL, O_NONBLOCK);  // a refill never blocks
  c.pipes.emplace(r.pipe_id, ends);
  c.parked.push_back(ends.first);
  c.parked.push_back(ends.second);
  return ends;
}

int restore(RestoreCtx& c, const crimg::FdInfo& f) {
  const crimg::FdRecord& r = f.rec;
  const std::pair<int, int> ends = pipe_of(c, f);
  if (!f.data.empty()) {
    ssize_t w = write(ends.second, f.data.data(), f.data.size());
    if (w != static_cast<ssize_t>(f.data.size())) {
      c.s.fail("cannot put the " + std::to_string(f.data.size()) + " bytes of " +
               RestoreCtx::what(f) + " back: the pipe is smaller here (pipe-max-size?)");
    }
  }
  const int end = (r.open_flags & O_ACCMODE) == O_RDONLY ? ends.first : ends.second;
  // A new fd on the parked end (which stays open for the other fds of this
  // end), with the status flag the application had.
  const int t = fcntl(end, F_DUPFD_CLOEXEC, c.above);
  if (t >= 0) fcntl(t, F_SETFL, r.open_flags & O_NONBLOCK);
  return t;
}
#endif

}  // namespace

// No check: a pipe is created, never looked up.
const FdOps kPipeOps = {crimg::kFdPipe,        "pipe",  match,
                        CRFD_CAPTURE(capture), nullptr, CRFD_RESTORE_FN(restore)};

}  // namespace crfd
