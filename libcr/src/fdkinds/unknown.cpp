// unknown.cpp -- kFdUnknown: whatever no other kind takes (eventfd, epoll,
// signalfd, an unlinked file too large to save ...).  A placeholder after a
// restart, like a socket, with a warning.  Give such an fd a kind of its
// own to restore it properly.
#include "fdops.h"

namespace crfd {
namespace {

int match(const FdProbe&) {
  return kFallback;
}

}  // namespace

const FdOps kUnknownOps = {crimg::kFdUnknown,
                           "unknown",
                           match,
                           CRFD_CAPTURE(capture_placeholder),
                           nullptr,
                           CRFD_RESTORE_FN(restore_placeholder)};

}  // namespace crfd
