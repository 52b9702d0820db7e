// control.h -- the control channel between a checkpoint requester and the
// process that writes its image (libcr's manager today; crmpirun's job
// socket follows the same rules).
//
// Rules, each enforced here so that every control socket obeys them:
//
//   * Where: a Unix socket file "libcr.<pid>" (a process's libcr) or
//     "job.<pid>" (crmpirun's job control socket, SocketKind) in a folder only its owner may
//     enter: /tmp/crmpi-<euid> (mode 0700, owned by euid, not a symlink), or
//     /run/crmpi for root.  Abstract names have no permissions: anyone could
//     bind "@name" first and be sent the requester's image fd.
//   * Listener checks requester (may_request): SO_PEERCRED uid and gid equal
//     the listener's real, effective and saved ids, and the listener is
//     dumpable -- the kernel's ptrace rule -- unless the requester is root.
//   * Requester checks listener (connect_target): SO_PEERCRED pid is the
//     target's pid and its uid is one of the target's uids.  Nothing is sent
//     before both checks pass.
//   * Commit: a requester that asks for it (kRequestCommit) gets a first
//     reply when the image is complete and fsynced; the target applies its
//     after-signal (--kill/--stop/--term) only once the requester answers
//     COMMIT, i.e. after the image has a durable name.  A requester that
//     goes away before that leaves the target running and no image.
//
// Wire format (SOCK_SEQPACKET, one message each, little-endian):
//   requester -> target  WireRequest + SCM_RIGHTS(image fd)
//   target -> requester  WireReply (phase kPhaseWritten, then kPhaseDone)
//   requester -> target  WireCommit (only with kRequestCommit)
//
// Nothing here allocates or uses stdio: the target side runs in libcr's
// manager thread and in restart fix-ups, where other threads are stopped.
#pragma once

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

namespace crctl {

inline constexpr uint32_t kWireVersion = 3;  // 3: the image digest in replies
inline constexpr uint32_t kRequestMagic = 0x51524343;  // "CCRQ"
inline constexpr uint32_t kReplyMagic = 0x50524343;    // "CCRP"
inline constexpr uint32_t kCommitMagic = 0x4d4f4343;   // "CCOM"

// WireRequest.options
inline constexpr uint32_t kRequestSelf = 1;    // the requester is the target itself
inline constexpr uint32_t kRequestCommit = 2;  // wait for WireCommit before the after-signal

struct WireRequest {
  uint32_t magic;    // kRequestMagic
  uint32_t version;  // kWireVersion
  uint32_t flags;    // CR_CHKPT_* (libcr.h)
  int32_t after_signal;
  uint32_t timeout_s;
  uint32_t options;  // kRequest*
};
static_assert(sizeof(WireRequest) == 24);

// Why a request was refused (WireReply.refusal, with status EPERM).
enum Refusal : uint32_t {
  kRefusedNone = 0,
  kRefusedOtherUser = 1,    // requester's uid/gid is not the target's
  kRefusedChangedIds = 2,   // target's real/effective/saved ids differ (setuid)
  kRefusedNotDumpable = 3,  // target is not dumpable (PR_SET_DUMPABLE 0)
  kRefusedBadRequest = 4,   // malformed or wrong version
};

enum Phase : uint32_t {
  kPhaseDone = 0,     // final answer
  kPhaseWritten = 1,  // image complete and fsynced; waiting for WireCommit
};

struct WireReply {
  uint32_t magic;  // kReplyMagic
  int32_t status;  // 0 ok, else an errno (CR_E* included)
  uint32_t restarted;
  uint32_t refusal;  // Refusal, with status EPERM
  uint32_t phase;    // Phase
  uint32_t owner_uid;  // the target's euid (to name it in a refusal)
  uint64_t image_bytes;
  uint64_t image_digest;  // crmpi/image.h, with kPhaseWritten / a done reply
};
static_assert(sizeof(WireReply) == 40);

struct WireCommit {
  uint32_t magic;  // kCommitMagic
  uint32_t commit;  // 1: the image has a durable name; apply the after-signal
};
static_assert(sizeof(WireCommit) == 8);

// Text for an errno value or a CR_E* code (libcr.h).  Never NULL.
const char* error_text(int e);

// ------------------------------------------------------------ the folder

// Why a socket folder cannot be used (listen_socket/diagnose_folder).
enum FolderProblem {
  kFolderOk = 0,
  kFolderMissing,     // does not exist
  kFolderNotDir,      // exists but is not a directory (or is a symlink)
  kFolderWrongOwner,  // owned by another uid
  kFolderOpen,        // group or others may enter or write it
  kFolderCannotMake,  // mkdir failed (see errno)
};

// The folder for sockets of processes running as @uid, into @out (NUL-
// terminated).  Returns the length, or -ENAMETOOLONG.  Async-signal-safe.
int socket_folder(uid_t uid, char* out, size_t n);

// Which control socket of a process: its libcr's ("libcr.<pid>") or, for
// crmpirun, its job's ("job.<pid>", crmpi/job_control.h).  The folder and
// every rule are the same.
enum SocketKind { kSocketLibcr = 0, kSocketJob = 1 };

// The socket address of process @pid whose socket folder belongs to @uid.
// Returns the address length, or 0 if the name does not fit.
// Async-signal-safe.
socklen_t socket_address(uid_t uid, pid_t pid, struct sockaddr_un* a,
                         SocketKind kind = kSocketLibcr);

// Checks (and with @create, makes) @uid's socket folder.  Returns kFolderOk
// or the problem; *@owner gets the folder's owner when it exists.
// Async-signal-safe.
FolderProblem check_folder(uid_t uid, bool create, uid_t* owner);

// One line naming a FolderProblem, for messages.  Never NULL.
const char* folder_problem_text(FolderProblem p);

// ------------------------------------------------------------ target side

// A new listening socket for process @pid running as euid @uid, in its
// folder (made if missing, refused if unsafe; a stale socket file of the
// same name is replaced).  Returns the fd, or -errno with *@why set:
// -EPERM with kFolderWrongOwner / kFolderOpen / kFolderNotDir.
// Async-signal-safe.
int listen_socket(pid_t pid, uid_t uid, FolderProblem* why, SocketKind kind = kSocketLibcr);

// Removes the socket file of @pid (at exit).  Async-signal-safe.
void unlink_socket(pid_t pid, uid_t uid, SocketKind kind = kSocketLibcr);

// May the peer of connection @conn request a checkpoint of this process?
// Returns kRefusedNone or the reason; *@peer_uid gets the peer's uid.
Refusal may_request(int conn, uid_t* peer_uid);

// Accepts one connection and reads its request.  Refused peers get an EPERM
// reply and are closed here.  Returns 0 with *@conn, *@image_fd and *@req
// filled and *@peer_uid the requester's uid, or -errno (-EPERM for a
// refused peer).
int accept_request(int listen_fd, int* conn, int* image_fd, WireRequest* req, uid_t* peer_uid);

int send_reply(int conn, const WireReply& r);  // 0 or -errno (never SIGPIPE)

// Waits for the requester's WireCommit.  Returns 1 for a commit, 0 if the
// requester closed the connection (or sent anything else), -ETIMEDOUT after
// @timeout_ms (< 0: no limit).
int wait_commit(int conn, int timeout_ms);

// ------------------------------------------------------------ requester side

// The target's ids from /proc/PID/status.
struct ProcIds {
  uid_t uid[3];  // real, effective, saved
  gid_t gid[3];
};
// 0, or -ESRCH (no such process) / -errno.  Not async-signal-safe.
int read_proc_ids(pid_t pid, ProcIds* ids);

// What connect_target found, for messages.
struct ConnectProblem {
  FolderProblem folder = kFolderOk;
  uid_t folder_owner = 0;
  pid_t impostor_pid = 0;  // listener that is not the target
  uid_t impostor_uid = 0;
  char path[sizeof(sockaddr_un::sun_path)] = {};
};

// Connects to @pid's control socket and checks that the listener is that
// process (pid and uid).  Returns the connected fd, or -errno:
//   -ENOENT      no socket (libcr not loaded, or could not create it)
//   -ECONNREFUSED a stale socket file: nobody listens
//   -EACCES      the folder is not reachable by the caller
//   -EPERM       the listener is not the target (impostor_* set)
// *@why says more.
int connect_target(pid_t pid, const ProcIds& ids, ConnectProblem* why,
                   SocketKind kind = kSocketLibcr);

// Sends a request with the image fd.  0 or -errno.
int send_request(int sock, const WireRequest& r, int image_fd);

// Reads one reply.  0, or -errno (-ECONNRESET/-ESRCH when the target went
// away without answering).
int read_reply(int sock, WireReply* r);

int send_commit(int sock);  // 0 or -errno

}  // namespace crctl
