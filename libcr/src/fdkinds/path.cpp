// path.cpp -- kFdPath: an O_PATH fd, reopened O_PATH by path.  Opening
// O_PATH never blocks, whatever the path now is (a FIFO included).
#include <fcntl.h>

#include "fdops.h"

namespace crfd {
namespace {

int match(const FdProbe& p) {
  return p.flags >= 0 && (p.flags & O_PATH) ? kByFlags : kNoMatch;
}

#if defined(CRFD_RESTORE)
int restore(RestoreCtx& c, const crimg::FdInfo& f) {
  return c.park(open(f.path.c_str(), O_PATH | O_CLOEXEC));
}
#endif

}  // namespace

// No check: a path that is gone fails at restore, as the open would.
const FdOps kPathOps = {crimg::kFdPath,        "o_path", match,
                        CRFD_CAPTURE(capture_path), nullptr,  CRFD_RESTORE_FN(restore)};

}  // namespace crfd
