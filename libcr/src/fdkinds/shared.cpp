// shared.cpp -- helpers several fd kinds share: placeholders (socket,
// unknown) and reopening by path (file, dir, device).
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdops.h"

namespace crfd {

#if defined(CRFD_RUNTIME)
// After a restart the fd is a placeholder on which libcr's interposed I/O
// fails with ECONNRESET (runtime/fds.cpp); remember its number for that.
int capture_placeholder(CaptureCtx& c, const FdProbe& p, crimg::FdRecord& r) {
  if (c.nplaceholders < c.max_placeholders) c.placeholders[c.nplaceholders++] = p.fd;
  return capture_path(c, p, r);
}

int capture_path(CaptureCtx& c, const FdProbe& p, crimg::FdRecord& r) {
  encode_fd(*c.e, r, p.path, nullptr, 0);
  return 0;
}
#endif

#if defined(CRFD_RESTORE)
std::string RestoreCtx::what(const crimg::FdInfo& f) {
  return "fd " + std::to_string(f.rec.fd) + " (" + f.path + ")";
}

int RestoreCtx::park(int fd) const {
  if (fd < 0) return fd;
  int p = fcntl(fd, F_DUPFD_CLOEXEC, above);
  close(fd);
  return p;
}

void check_by_path(RestoreCtx& c, const crimg::FdInfo& f, unsigned type) {
  const std::string what = "file " + f.path + " (fd " + std::to_string(f.rec.fd) + ")";
  if (!crrestore::check_type(c.s, f.path, type, what))
    c.s.fail(what + " is missing: " + strerror(errno));
}

int reopen_by_path(RestoreCtx& c, const crimg::FdInfo& f, int flags, unsigned type) {
  return c.park(crrestore::open_no_block(c.s, f.path, flags, type, RestoreCtx::what(f)));
}

// A socket whose peer is closed: I/O on it fails (seed 004), and the number
// stays taken, so an open() cannot silently reuse it.
int restore_placeholder(RestoreCtx& c, const crimg::FdInfo& f) {
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
    c.s.fail("cannot create a placeholder for " + RestoreCtx::what(f));
  close(sp[1]);
  if (!c.s.opt.quiet) {
    c.s.warnings.push_back(RestoreCtx::what(f) + " was a " + crimg::fd_kind_name(f.rec.kind) +
                           "; restored as a placeholder whose I/O fails with ECONNRESET");
  }
  return c.park(sp[0]);
}
#endif

}  // namespace crfd
