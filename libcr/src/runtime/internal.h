// internal.h -- state shared by the parts of libcr's runtime.
//
// The runtime lives in the checkpointed process.  Files, one per concern:
//   runtime.cpp    load-time init, fork handling, the manager thread
//   control.cpp    libcr's end of the control channel (../control)
//   callbacks.cpp  callback registry, the two callback chains, cr_checkpoint
//   threads.cpp    stopping and releasing threads, the checkpoint signal
//   checkpoint.cpp the capture pipeline and the restart fix-ups
//   memory.cpp     memory regions and pages
//   fds.cpp        the fd capture loop, libcr's own fds, socket placeholders
//                  (each kind of fd: ../fdkinds, capture and restore halves)
//   signals.cpp    signal dispositions, mask interposition
//   process.cpp    cwd, umask, rlimits, command line
//
// Everything reached while other threads are stopped must not allocate,
// take a lock an application thread may hold, or use stdio.
#pragma once

#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <atomic>

#include "../control/control.h"
#include "../image/format.h"
#include "../restore/blob.h"
#include "../image/writer.h"
#include "libcr.h"

namespace crrt {

inline constexpr int kMaxThreadRecords = 1024;
inline constexpr int kMaxCallbacks = 64;
inline constexpr int kMaxInternalFds = 16;
inline constexpr int kMaxPlaceholders = 256;
inline constexpr size_t kXstateMax = 8192;
inline constexpr int kMaxPending = 64;

// Saved state of one thread, filled in by the thread itself.
struct ThreadSlot {
  uint32_t gen_at_entry = 0;  // `gen` when the handler started
  crimg::ThreadRecord rec{};
  alignas(64) uint8_t xstate[kXstateMax]{};
  crimg::PendingSignal pending[kMaxPending]{};
};

// Written by the restorer into the restarted process (address recorded in
// the image); read by the manager's restart fix-ups.  Defined with the
// restorer's contract: ../restore/blob.h.
using RestoreMailbox = crb_mailbox;

// Request handed to the manager.
struct Request {
  int conn = -1;         // connection to the requester
  int image_fd = -1;     // where to write
  int after_signal = 0;  // SIGKILL/SIGTERM/SIGSTOP/SIGCONT or 0
  unsigned timeout_s = 0;
  unsigned flags = 0;  // CR_CHKPT_*
  bool self = false;
  bool commit = false;  // the requester commits before the after-signal
  uid_t requester_uid = 0;
  bool replied = false;
};

struct Globals {
  int cr_signal = 0;   // signal used to stop threads
  int listen_fd = -1;  // control socket
  pid_t pid = 0;
  pid_t manager_tid = 0;
  long tid_offset = -1;              // thread pointer -> struct pthread::tid
  std::atomic<int> cs_depth{0};      // cr_enter_cs nesting
  std::atomic<uint32_t> cs_gate{0};  // futex: 1 while a checkpoint is pending

  // Checkpoint in progress (manager-owned unless noted).
  std::atomic<int> active{0};         // handler checks: ignore stray signals
  std::atomic<int> in_handler{0};     // threads inside the checkpoint handler
  std::atomic<uint32_t> gen{0};       // futex: bumped to release threads
  std::atomic<uint32_t> arrived{0};   // futex: threads stopped
  std::atomic<uint32_t> departed{0};  // futex: threads done with callbacks
  std::atomic<int> nslots{0};         // slots claimed (slot 0 = manager)
  std::atomic<int> fail_errno{0};     // set by a callback asking to fail
  int result = 0;                     // 0 continue, 1 restart, -1 failure
  int result_errno = 0;
  ThreadSlot slots[kMaxThreadRecords]{};

  // fds that belong to libcr, never saved.
  int internal_fds[kMaxInternalFds]{};
  int ninternal = 0;

  // fds the application keeps out of the image (cr_exclude_fd); guarded
  // by g_excluded_lock outside checkpoints, read-only during one.
  int excluded_fds[CR_MAX_EXCLUDED_FDS]{};
  int nexcluded = 0;
  // Memory the application keeps out of the image (cr_exclude_memory).
  uint64_t excluded_mem[CR_MAX_EXCLUDED_RANGES][2]{};
  int nexcluded_mem = 0;

  // fds captured as sockets/unknown: become placeholders after restart.
  int placeholder_fd[kMaxPlaceholders]{};
  uint64_t placeholder_ino[kMaxPlaceholders]{};
  int nplaceholders = 0;
  std::atomic<int> placeholders_live{0};

  // Self-checkpoint requests in flight (requester side fds).
  int self_fds[kMaxInternalFds]{};
  int self_image_fds[kMaxInternalFds]{};  // the requester's own image fd
  int nself = 0;

  RestoreMailbox mailbox{};
  std::atomic<int> restarted{0};
};

Globals& g();

// runtime.cpp
void ensure_started();  // idempotent; starts the manager thread
bool started_ok();

// checkpoint.cpp: the last image this process wrote.
struct CheckpointInfo {
  uint64_t bytes = 0, digest = 0;
};
CheckpointInfo last_checkpoint_info();

// control.cpp (the channel itself: ../control/control.h)
int control_listen(pid_t pid);                   // new listening socket, or -errno (said loudly)
void control_forget_socket();                    // at exit: remove our socket file
int control_receive(int listen_fd, Request* r);  // accept + check + read; 0 or -errno
// A reply; @written: the image is complete and synced, a commit may follow.
int control_reply(int conn, int status, bool restarted, uint64_t bytes, bool written = false);

// callbacks.cpp
int run_thread_chain();                  // manager: callbacks, then capture
int run_signal_chain(ThreadSlot* slot);  // handler: callbacks, then stop

// threads.cpp
void install_signal_handler();
pid_t gettid_raw();
long discover_tid_offset();
int stop_all_threads(unsigned timeout_ms);  // 0 or -errno (CR_ETEMPFAIL)
// 0 if no thread but the parked ones and the manager ran since the stop.
int check_still_stopped(int nslots, uint32_t arrived);
void release_threads(int result, int err);  // wake stopped threads
void wait_threads_departed();
int thread_park(ThreadSlot* slot);  // handler side: returns result
void fill_thread_record(ThreadSlot* s, const ucontext_t* uc);

// checkpoint.cpp
int checkpoint_now();  // capture_all: called at the bottom of the chains
int handle_request(Request* r);
void set_current_request(Request* r);

// memory.cpp
struct MemRange {
  uint64_t lo, hi;  // page-aligned, lo < hi
};
// Writes the PAGES and REGIONS sections.  @excluded: sorted, disjoint
// ranges left out of the image (libcr's scratch, cr_exclude_memory).
int write_memory(crimg::ImageWriter* w, crimg::Scratch* s, const MemRange* excluded,
                 size_t nexcluded);
// The ranges to leave out, libcr's own scratch range among them, sorted
// and merged into @out (room for CR_MAX_EXCLUDED_RANGES + 1).  Returns
// their number.
size_t excluded_ranges(uint64_t scratch_lo, uint64_t scratch_hi, MemRange* out);
void forget_excluded_ranges();  // restart fix-up: they are not mapped there

// fds.cpp
int encode_fds(crimg::Encoder* e, crimg::Scratch* s);
bool is_internal_fd(int fd);  // libcr's own, or excluded by the application
void forget_excluded_fds();   // restart fix-up and fork child: none exist
void add_internal_fd(int fd);
void remove_internal_fd(int fd);
void activate_placeholders();  // restart fix-up
void resolve_real_io();        // at load time
void resolve_real_sig();       // at load time

// signals.cpp
int encode_signals(crimg::Encoder* e);
int raw_sigprocmask(int how, const sigset_t* set, sigset_t* old);
// The definition of libc function @name that libcr's own interposer hides:
// the next one in the search order, or libc's.  NULL if none.
void* next_symbol(const char* name);
int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old);
void dequeue_pending(ThreadSlot* s);
void requeue_pending(ThreadSlot* s);

// process.cpp
int encode_process(crimg::Encoder* e);

// Small async-signal-safe helpers.
void write_stderr(const char* a, const char* b = nullptr, const char* c = nullptr);
int futex_wait(std::atomic<uint32_t>* addr, uint32_t val, int timeout_ms);
void futex_wake(std::atomic<uint32_t>* addr);
long now_ms();  // CLOCK_MONOTONIC in milliseconds

}  // namespace crrt

extern "C" int cr_ctx_save(crimg::JmpContext* ctx) __attribute__((returns_twice));
// Saves the context, counts the thread arrived and sleeps until *gen !=
// seen, storing nothing after the arrival (ctx_x86_64.S).
extern "C" int cr_park(crimg::JmpContext* ctx, uint32_t* arrived, const uint32_t* gen,
                       uint32_t seen) __attribute__((returns_twice));
