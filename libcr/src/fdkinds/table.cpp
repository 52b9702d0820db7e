// table.cpp -- the fd kinds' table, classification, and the record layout
// shared by every kind.  Pure code, in both builds.
#include <string.h>

#include "fdops.h"
#include "writer.h"

namespace crfd {
namespace {

// One line per kind; the index is the kind (checked by fdops_test).
const FdOps* const kTable[kMaxKind + 1] = {
    nullptr,
    &kFileOps,     // kFdFile = 1
    &kDirOps,      // kFdDir = 2
    &kDeviceOps,   // kFdDevice = 3
    &kPipeOps,     // kFdPipe = 4
    &kSocketOps,   // kFdSocket = 5
    &kUnknownOps,  // kFdUnknown = 6
    &kPathOps,     // kFdPath = 7
    &kStdioOps,    // kFdStdio = 8
    &kDeletedOps,  // kFdDeleted = 9
};

}  // namespace

const FdOps* ops_for(uint32_t kind) {
  return kind <= kMaxKind ? kTable[kind] : nullptr;
}

// Every kind is asked; the lowest precedence wins, the first in the table
// among equals (the unknown kind matches everything, so one always does).
const FdOps& classify(const FdProbe& p) {
  const FdOps* best = &kUnknownOps;
  int best_prec = kFallback;
  for (const FdOps* o : kTable) {
    if (!o) continue;
    const int prec = o->match(p);
    if (prec != kNoMatch && prec < best_prec) {
      best = o;
      best_prec = prec;
    }
  }
  return *best;
}

crimg::FdRecord base_record(const FdProbe& p) {
  crimg::FdRecord r;
  memset(&r, 0, sizeof r);
  r.fd = p.fd;
  r.open_flags = p.flags < 0 ? 0 : static_cast<uint32_t>(p.flags);
  r.fd_flags = static_cast<uint32_t>(p.fd_flags);
  r.offset = p.offset;
  r.dev = p.st.st_dev;
  r.ino = p.st.st_ino;
  r.size = static_cast<uint64_t>(p.st.st_size);
  r.mtime_ns = p.st.st_mtim.tv_sec * 1000000000LL + p.st.st_mtim.tv_nsec;
  r.mode = p.st.st_mode;
  return r;
}

void encode_fd(crimg::Encoder& e, const crimg::FdRecord& r, const char* path, const char* data,
               size_t len) {
  e.pod(r);
  e.str(path);
  e.str(data, len);
}

bool starts_with(const char* s, const char* prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

}  // namespace crfd
