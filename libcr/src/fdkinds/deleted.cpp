// deleted.cpp -- kFdDeleted: a regular file already unlinked (tmpfile()).
// Its bytes are saved (up to kMaxDeletedFileBytes, and only if they fit in
// the FDS section); it comes back as an unlinked file again, in its old
// folder if possible, else in /tmp.  Larger ones, and write-only ones whose
// bytes cannot be read, fall to the unknown kind (a placeholder).
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fdops.h"

namespace crfd {
namespace {

constexpr size_t kSuffixLen = sizeof " (deleted)" - 1;
constexpr uint64_t kSectionSlack = 65536;  // room kept for the other fds

int match(const FdProbe& p) {
  const uint64_t size = static_cast<uint64_t>(p.st.st_size);
  const bool fits = size <= crimg::kMaxDeletedFileBytes && size + kSectionSlack < p.room;
  const bool readable = ((p.flags < 0 ? 0 : p.flags) & O_ACCMODE) != O_WRONLY;
  return S_ISREG(p.st.st_mode) && p.deleted && p.path[0] == '/' && fits && readable ? kByType
                                                                                    : kNoMatch;
}

#if defined(CRFD_RUNTIME)
// The bytes are read straight into the encoder's buffer.
int capture(CaptureCtx& c, const FdProbe& p, crimg::FdRecord& r) {
  c.e->pod(r);
  c.e->str(p.path, p.path_len - kSuffixLen);  // the name it had
  const uint32_t n = static_cast<uint32_t>(p.st.st_size);
  c.e->pod(n);
  char* dst = c.e->reserve(n);
  ssize_t got = dst ? pread(p.fd, dst, n, 0) : -1;
  return got == static_cast<ssize_t>(n) ? 0 : -EIO;
}
#endif

#if defined(CRFD_RESTORE)
int restore(RestoreCtx& c, const crimg::FdInfo& f) {
  const crimg::FdRecord& r = f.rec;
  const std::string dir = f.path.substr(0, f.path.find_last_of('/') + 1);
  int tf = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, r.mode & 0777);
  if (tf < 0) tf = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, r.mode & 0777);
  if (tf < 0) return -1;
  if (!f.data.empty() &&
      write(tf, f.data.data(), f.data.size()) != static_cast<ssize_t>(f.data.size())) {
    c.s.fail("cannot recreate the unlinked file of " + RestoreCtx::what(f) + ": " +
             strerror(errno));
  }
  lseek(tf, r.offset, SEEK_SET);
  fcntl(tf, F_SETFL, r.open_flags & (O_APPEND | O_NONBLOCK));
  return c.park(tf);
}
#endif

}  // namespace

// No check: the file is recreated from the image, never looked up.
const FdOps kDeletedOps = {crimg::kFdDeleted,     "deleted-file", match,
                           CRFD_CAPTURE(capture), nullptr,        CRFD_RESTORE_FN(restore)};

}  // namespace crfd
