// stdio.cpp -- kFdStdio: fds 0, 1 and 2.  Recorded for completeness; after
// a restart they are cr_restart's own, so the restarted process talks to
// the terminal or files of the restarting command (seed 000).
#include "fdops.h"

namespace crfd {
namespace {

int match(const FdProbe& p) {
  return p.fd >= 0 && p.fd <= 2 ? kByNumber : kNoMatch;
}

#if defined(CRFD_RESTORE)
int restore(RestoreCtx&, const crimg::FdInfo&) {
  return kKeep;
}
#endif

}  // namespace

const FdOps kStdioOps = {crimg::kFdStdio,       "stdio", match,
                         CRFD_CAPTURE(capture_path), nullptr, CRFD_RESTORE_FN(restore)};

}  // namespace crfd
