// socket.cpp -- kFdSocket: a socket of any family.  Recorded, never
// refused: after a restart it is a placeholder on which I/O fails with
// ECONNRESET (seed 004), rather than a closed number an open() could
// silently reuse.  The helpers are in shared.cpp (kind unknown uses them
// too).
#include "fdops.h"

namespace crfd {
namespace {

int match(const FdProbe& p) {
  return S_ISSOCK(p.st.st_mode) ? kByTypeFallback : kNoMatch;
}

}  // namespace

const FdOps kSocketOps = {crimg::kFdSocket,
                          "socket",
                          match,
                          CRFD_CAPTURE(capture_placeholder),
                          nullptr,
                          CRFD_RESTORE_FN(restore_placeholder)};

}  // namespace crfd
