// file.cpp -- kFdFile: a regular file with a name, reopened by path at its
// offset, with its access mode and status flags.
#include <unistd.h>

#include "fdops.h"

namespace crfd {
namespace {

int match(const FdProbe& p) {
  return S_ISREG(p.st.st_mode) && !p.deleted && p.path[0] == '/' ? kByType : kNoMatch;
}

#if defined(CRFD_RESTORE)
void check(RestoreCtx& c, const crimg::FdInfo& f) {
  check_by_path(c, f, S_IFREG);
}

int restore(RestoreCtx& c, const crimg::FdInfo& f) {
  int t = reopen_by_path(c, f, static_cast<int>(f.rec.open_flags & kReopenFlags), S_IFREG);
  if (t >= 0) lseek(t, f.rec.offset, SEEK_SET);
  return t;
}
#endif

}  // namespace

const FdOps kFileOps = {
    crimg::kFdFile,          "file", match, CRFD_CAPTURE(capture_path), CRFD_CHECK(check),
    CRFD_RESTORE_FN(restore)};

}  // namespace crfd
