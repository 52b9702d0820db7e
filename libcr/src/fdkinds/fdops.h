// fdops.h -- one ops table for every kind of file descriptor (crimg::FdKind).
//
// Each kind lives in one file of this folder and holds both halves of its
// life: capture (runtime side, inside the checkpointed process) and check +
// restore (cr_restart).  The folder is compiled twice: into libcr.so with
// CRFD_RUNTIME defined, and into crrestore with CRFD_RESTORE defined.  A
// kind's file guards each half with those macros; its match function and
// its name are pure and present in both builds.
//
// Capture runs while every other thread is stopped: the runtime half must
// not allocate, use stdio or take a lock an application thread may hold.
//
// Adding a kind: a new FdKind value (image format), a new file here that
// defines `const FdOps kXxxOps`, and one line in table.cpp.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "format.h"

namespace crimg {
class Encoder;
struct FdInfo;
}  // namespace crimg

namespace crfd {

// What capture knows about one fd before choosing its kind.  Filled by the
// runtime (fstat, F_GETFL, readlink of /proc/thread-self/fd/N); pure data,
// so that classification can be tested without a process.
struct FdProbe {
  int fd = -1;
  int flags = -1;          // F_GETFL, or -1 if it failed
  int fd_flags = 0;        // F_GETFD (FD_CLOEXEC)
  int64_t offset = 0;      // lseek(fd, 0, SEEK_CUR), -1 if not seekable
  struct stat st {};       // zeroed if fstat failed
  const char* path = "";   // the fd's link target, NUL-terminated
  size_t path_len = 0;     // strlen(path), " (deleted)" included
  bool deleted = false;    // the link ends with " (deleted)"
  bool own_image = false;  // a self-checkpoint's own image fd
  uint64_t room = 0;       // bytes left in the FDS encoder
};

// Which kind wins when several match: the lowest precedence.  Kinds at the
// same level must not match the same probe (fdops_test checks this).
enum Precedence : int {
  kNoMatch = 0,
  kLibcrOwn = 1,        // an fd libcr itself presents as something else
  kByNumber = 2,        // fds 0, 1, 2
  kByFlags = 3,         // O_PATH
  kByType = 4,          // file type + link target (file, dir, pipe, ...)
  kByTypeFallback = 5,  // sockets of any family
  kFallback = 6,        // anything else
};

struct CaptureCtx;  // runtime half; defined below under CRFD_RUNTIME
struct RestoreCtx;  // restore half; defined below under CRFD_RESTORE

struct FdOps {
  uint32_t kind;     // crimg::FdKind
  const char* name;  // as crimg::fd_kind_name(kind)
  // Pure: the precedence at which this kind takes @p, or kNoMatch.
  int (*match)(const FdProbe& p);
  // Runtime: completes @r (the common fields are filled from the probe)
  // and appends record, path and data to c.e.  0 or -errno.  nullptr in
  // the restore build.
  int (*capture)(CaptureCtx& c, const FdProbe& p, crimg::FdRecord& r);
  // Restore, before the point of no return: refuse (State::fail) what
  // cannot be restored.  nullptr: nothing to check.
  void (*check)(RestoreCtx& c, const crimg::FdInfo& f);
  // Restore, after: a new fd for @f, parked at or above c.above (the caller
  // moves it to its number and closes it); kKeep if the number is already
  // right; -1 with errno set on failure.  nullptr in the runtime build.
  int (*restore)(RestoreCtx& c, const crimg::FdInfo& f);
};
inline constexpr int kKeep = -2;

// The table, indexed by kind: nullptr where no kind has that value.
inline constexpr uint32_t kMaxKind = 15;
const FdOps* ops_for(uint32_t kind);
// The kind that takes @p (the lowest precedence that matches).
const FdOps& classify(const FdProbe& p);
// The common fields of an fd's record, from its probe (the kind and the
// kind's own fields are left to the kind).
crimg::FdRecord base_record(const FdProbe& p);
// Appends one fd as the FDS section stores it: record, path, data.
void encode_fd(crimg::Encoder& e, const crimg::FdRecord& r, const char* path, const char* data,
               size_t len);

// Each kind's entry (one file each).
extern const FdOps kFileOps, kDirOps, kDeviceOps, kPipeOps, kSocketOps, kUnknownOps, kPathOps,
    kStdioOps, kDeletedOps;

bool starts_with(const char* s, const char* prefix);

}  // namespace crfd

// A kind's entry names its runtime and restore functions through these, so
// that each build only references the half it compiles.
#if defined(CRFD_RUNTIME)
#define CRFD_CAPTURE(f) f
#else
#define CRFD_CAPTURE(f) nullptr
#endif
#if defined(CRFD_RESTORE)
#define CRFD_CHECK(f) f
#define CRFD_RESTORE_FN(f) f
#else
#define CRFD_CHECK(f) nullptr
#define CRFD_RESTORE_FN(f) nullptr
#endif

#if defined(CRFD_RUNTIME)
#include "writer.h"

namespace crfd {

inline constexpr int kMaxSeenPipes = 64;

// State of one FDS capture; no allocation: buffers come from the scratch
// arena of the checkpoint.
struct CaptureCtx {
  crimg::Encoder* e = nullptr;
  char* pipebuf = nullptr;  // pipe contents are copied here
  size_t pipecap = 0;
  uint64_t seen_pipes[kMaxSeenPipes]{};  // pipes whose bytes are saved
  int nseen = 0;
  int* placeholders = nullptr;  // fds that become placeholders after restart
  int nplaceholders = 0;
  int max_placeholders = 0;
};

// Shared by the placeholder kinds (socket, unknown): note the fd and
// record it with no data.
int capture_placeholder(CaptureCtx& c, const FdProbe& p, crimg::FdRecord& r);

// Shared by the kinds reopened by path or given by the restarting command
// (file, dir, path, stdio): the record and the path, no data.
int capture_path(CaptureCtx& c, const FdProbe& p, crimg::FdRecord& r);

}  // namespace crfd
#endif

#if defined(CRFD_RESTORE)
#include <fcntl.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "state.h"

namespace crfd {

struct RestoreCtx {
  crrestore::State& s;
  int above = 3;                                  // new fds are parked at or above this number
  std::map<uint64_t, std::pair<int, int>> pipes;  // pipe id -> parked ends
  std::vector<int> parked;                        // closed when every fd is placed

  explicit RestoreCtx(crrestore::State& st) : s(st) {}
  // How messages name @f: "fd N (path)".
  static std::string what(const crimg::FdInfo& f);
  // Moves @fd to a number at or above `above` (closing @fd); -1 stays -1.
  int park(int fd) const;
};

// Flags an fd reopened by path gets back (access mode and status flags).
inline constexpr int kReopenFlags =
    O_ACCMODE | O_APPEND | O_NONBLOCK | O_SYNC | O_DSYNC | O_NOATIME | O_DIRECT;

// Shared by the kinds reopened by path: the path must exist and have file
// type @type (S_IFREG ...).
void check_by_path(RestoreCtx& c, const crimg::FdInfo& f, unsigned type);
// Opens @f's path with @flags without ever blocking, refusing another file
// type than @type; parked; -1 with errno on failure.
int reopen_by_path(RestoreCtx& c, const crimg::FdInfo& f, int flags, unsigned type);
// Shared by the placeholder kinds: a socket whose peer is closed, and a
// warning unless --quiet.
int restore_placeholder(RestoreCtx& c, const crimg::FdInfo& f);

}  // namespace crfd
#endif
