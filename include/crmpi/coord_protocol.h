// crmpi/coord_protocol.h -- the job checkpoint protocol between the
// coordinator (linked into crmpirun) and the ranks' agents (cr_agent).
//
// Transport: one TCP connection per rank, agent -> coordinator, so that a
// job may span hosts.  The agent finds the coordinator in $CRMPI_COORD
// ("host:port") and proves it knows the job's secret ($CRMPI_JOB_SECRET,
// 64 hex digits, made by crmpirun from getrandom) by an HMAC-SHA256
// challenge-response in both directions; nothing else is accepted before
// that.  The application never holds this socket: the agent relays what the
// application needs over its channel (crmpi/protocol.h).
//
// Framing: every message is a Frame header followed by `length` bytes of
// body, little-endian, the body being the struct named by `type` (fixed
// size) or that struct followed by an array (kSeqs, kTargets).  A peer that
// sends a bad magic, an unknown type or a length that does not match its
// type is disconnected with a message naming the problem; a coordinator
// treats that rank as failed.
//
// Sequence of one checkpoint (epoch e), narrated in docs/protocol.md:
//
//   coordinator                                agent (each rank)
//   Intent(e, dir)                  ---->      reports Seqs(e, ready?, [(comm id, seq)])
//   Targets(e, hold, [(comm id, max seq)]) -> keeps running up to the targets,
//                                   <----      Seqs again whenever they change
//   (hold 0 while a rank is inside a group collective)
//   (hold 1, all ready, all seqs == targets)
//   Quiesce(e)                      ---->      pauses the app's blocking calls, asks
//                                              the app's libcr for a checkpoint
//                                   <----      Quiesced(e)
//   DrainStep(e)  (repeated)        ---->      receives every message it can
//                                   <----      Counts(e, sent, received)
//   (sum sent == sum received)
//   DrainDone(e)                    ---->      settles requests, hands the drained
//                                              messages to the app, which detaches;
//                                              libcr writes the image
//                                   <----      Written(e, bytes, digest)
//   Link(e)                         ---->      gives the image its name, fsyncs it
//                                   <----      Linked(e)
//   (manifest written, fsynced)
//   Commit(e, after)                ---->      commits libcr's request (after-action)
//
// Any failure: the agent sends Failed(e, errno, text); the coordinator
// sends Abort(e) to every rank, removes what it wrote, and the job goes on.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace crmpi::coord {

inline constexpr uint32_t kFrameMagic = 0x44524f43;  // "CORD"
inline constexpr uint32_t kVersion = 3;
inline constexpr size_t kSecretBytes = 32;  // $CRMPI_JOB_SECRET: 64 hex digits
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMacBytes = 32;  // HMAC-SHA256
inline constexpr size_t kPathMax = 512;
inline constexpr size_t kTextMax = 256;
inline constexpr uint32_t kMaxBody = 16u << 20;  // no frame body is larger

enum Type : uint16_t {
  // handshake
  kChallenge = 1,  // coordinator -> agent, first message on a connection
  kHello = 2,      // agent -> coordinator
  kWelcome = 3,    // coordinator -> agent (proves the coordinator knows the secret)
  // checkpoint, coordinator -> agent
  kIntent = 10,
  kTargets = 11,
  kQuiesce = 12,
  kDrainStep = 13,
  kDrainDone = 14,
  kLink = 15,
  kCommit = 16,
  kAbort = 17,
  kRequestDone = 18,  // the checkpoint this rank asked for (kRequest) is over, or never started
  // checkpoint, agent -> coordinator
  kSeqs = 30,
  kQuiesced = 31,
  kCounts = 32,
  kWritten = 33,
  kLinked = 34,
  kFailed = 35,
  kRequest = 36,  // the application asks for a job checkpoint (crmpi_ext.h)
};

struct Frame {
  uint32_t magic;   // kFrameMagic
  uint16_t type;    // Type
  uint16_t flags;   // 0
  uint32_t length;  // body bytes
  uint32_t epoch;   // checkpoint epoch the message belongs to (0 in the handshake)
};
static_assert(sizeof(Frame) == 16);

// ---- handshake
struct Challenge {
  uint32_t version;  // kVersion
  uint32_t nranks;   // ranks the coordinator expects
  uint8_t nonce[kNonceBytes];
};
static_assert(sizeof(Challenge) == 40);

// mac = HMAC-SHA256(secret, "crmpi-agent" || challenge nonce || rank (u32 LE) || nonce)
struct Hello {
  uint32_t version;  // kVersion
  uint32_t rank;     // MPI_COMM_WORLD rank
  uint32_t nranks;   // MPI_COMM_WORLD size
  int32_t agent_pid;
  int32_t app_pid;   // the application process (its image is the rank's)
  uint32_t restored; // 1: this incarnation was restarted from an image
  char host[64];     // gethostname, NUL-terminated
  uint8_t nonce[kNonceBytes];
  uint8_t mac[kMacBytes];
};
static_assert(sizeof(Hello) == 152);

// mac = HMAC-SHA256(secret, "crmpi-coord" || hello nonce || rank (u32 LE))
struct Welcome {
  uint32_t next_epoch;  // the epoch the next checkpoint will have
  uint32_t reserved;
  uint8_t mac[kMacBytes];
};
static_assert(sizeof(Welcome) == 40);

// ---- coordinator -> agent
struct Intent {
  uint32_t timeout_s;  // the whole checkpoint's limit (informational for agents)
  uint32_t after;      // After (below): what the apps do once the checkpoint commits;
                       // with stop/kill they never run between their capture and it
  char dir[kPathMax];   // absolute; exists, 0700; the image goes to dir/image_name
  char image_name[64];  // e.g. "rank.3.e2.img"
};
static_assert(sizeof(Intent) == 584);

struct CommSeq {
  uint64_t comm_id;  // job-unique communicator id (protocol.h, comm_id())
  uint64_t seq;      // collectives entered on it (Seqs), or the target (Targets)
};
static_assert(sizeof(CommSeq) == 16);

// Targets: `count` CommSeq follow.  Every communicator any rank reported,
// with the highest seq reported for it.
struct Targets {
  uint32_t count;
  uint32_t round;  // increases each time the targets rise or `hold` changes
  uint32_t hold;   // 1: a rank at its targets parks before its next
                   // collective; 0: no rank parks (some rank is inside a
                   // group collective, Seqs.in_group_collective, whose
                   // members must be free to join it)
  uint32_t reserved;
};
static_assert(sizeof(Targets) == 16);

struct Link {
  uint32_t reserved[2];
};

enum After : uint32_t { kAfterContinue = 0, kAfterStop = 1, kAfterTerm = 2, kAfterKill = 3 };
struct Commit {
  uint32_t after;  // After
  uint32_t reserved;
};
static_assert(sizeof(Commit) == 8);

struct Abort {
  char reason[kTextMax];
};

// ---- agent -> coordinator
// Seqs: `count` CommSeq follow, one per communicator this rank belongs to.
struct Seqs {
  uint32_t count;
  uint32_t ready;  // 1: not inside a collective, and every seq equals the
                   // target it last received (or no targets yet)
  uint32_t round;  // the Targets round this answers (0: the Intent)
  uint32_t in_group_collective;  // 1: inside a collective that no single
                                 // communicator's count orders
                                 // (MPI_Comm_create_group over its group,
                                 // MPI_Intercomm_create across two groups);
                                 // then ready is 0
};
static_assert(sizeof(Seqs) == 16);

struct Quiesced {
  uint32_t reserved[2];
};

struct Counts {
  uint64_t sent;      // point-to-point messages this agent handed to MPI
  uint64_t received;  // point-to-point messages it took out of MPI
};
static_assert(sizeof(Counts) == 16);

struct Written {
  uint64_t image_bytes;
  uint64_t image_digest;  // crmpi/image.h digest (cr_get_checkpoint_info)
};
static_assert(sizeof(Written) == 16);

struct Linked {
  uint32_t reserved[2];
};

struct Failed {
  int32_t error;  // errno or CR_E* (libcr.h)
  uint32_t reserved;
  char text[kTextMax];  // what failed, NUL-terminated
};
static_assert(sizeof(Failed) == 264);

struct Request {
  uint32_t after;  // After: what the job does once it commits (continue, stop, term, kill)
  uint32_t reserved;
};
static_assert(sizeof(Request) == 8);

// The answer to every Request, exactly once: `error` 0 when the checkpoint
// it started committed; else why it failed or was not started.  A rank that
// asked does not leave MPI_Finalize before its answer (docs/protocol.md).
struct RequestDone {
  int32_t error;   // 0, or errno
  uint32_t epoch;  // the checkpoint the request started; 0 if none
  char text[kTextMax];
};
static_assert(sizeof(RequestDone) == 264);

}  // namespace crmpi::coord
