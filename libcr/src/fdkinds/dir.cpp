// dir.cpp -- kFdDir: a directory, reopened read-only by path at its offset
// (the position of readdir).
#include <fcntl.h>
#include <unistd.h>

#include "fdops.h"

namespace crfd {
namespace {

int match(const FdProbe& p) {
  return S_ISDIR(p.st.st_mode) && p.path[0] == '/' ? kByType : kNoMatch;
}

#if defined(CRFD_RESTORE)
void check(RestoreCtx& c, const crimg::FdInfo& f) {
  check_by_path(c, f, S_IFDIR);
}

int restore(RestoreCtx& c, const crimg::FdInfo& f) {
  int t = reopen_by_path(c, f, O_RDONLY | O_DIRECTORY, S_IFDIR);
  if (t >= 0) lseek(t, f.rec.offset, SEEK_SET);
  return t;
}
#endif

}  // namespace

const FdOps kDirOps = {
    crimg::kFdDir,           "dir", match, CRFD_CAPTURE(capture_path), CRFD_CHECK(check),
    CRFD_RESTORE_FN(restore)};

}  // namespace crfd
