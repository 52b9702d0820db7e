// device.cpp -- kFdDevice: a character device under /dev, reopened by path
// with its flags.  A self-checkpoint's own image fd is recorded as
// /dev/null too: after a restart, writes to it vanish, close() works, and
// its number is not reused behind the application's back.
#include "fdops.h"

namespace crfd {
namespace {

int match(const FdProbe& p) {
  if (p.own_image) return kLibcrOwn;
  return S_ISCHR(p.st.st_mode) && starts_with(p.path, "/dev/") ? kByType : kNoMatch;
}

#if defined(CRFD_RUNTIME)
int capture(CaptureCtx& c, const FdProbe& p, crimg::FdRecord& r) {
  if (p.own_image) r.offset = 0;
  encode_fd(*c.e, r, p.own_image ? "/dev/null" : p.path, nullptr, 0);
  return 0;
}
#endif

#if defined(CRFD_RESTORE)
void check(RestoreCtx& c, const crimg::FdInfo& f) {
  check_by_path(c, f, S_IFCHR);
}

int restore(RestoreCtx& c, const crimg::FdInfo& f) {
  return reopen_by_path(c, f, static_cast<int>(f.rec.open_flags & kReopenFlags), S_IFCHR);
}
#endif

}  // namespace

const FdOps kDeviceOps = {crimg::kFdDevice,      "device",          match,
                          CRFD_CAPTURE(capture), CRFD_CHECK(check), CRFD_RESTORE_FN(restore)};

}  // namespace crfd
