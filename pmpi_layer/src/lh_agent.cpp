// AgentLowerHalf: the phase-1 backend, cr_agent over the channel mapping.
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "crmpi/channel.h"
#include "libcr.h"
#include "lower_half.h"

namespace crmpi {
namespace {

bool parent_alive() {
  return getppid() != 1;
}

class AgentLowerHalf final : public LowerHalf {
 public:
  bool attach() override {
    const char* fd = getenv("CRMPI_CHANNEL_FD");
    if (!fd) return false;
    fd_ = atoi(fd);
    // The channel belongs to this incarnation's agent: never in an image.
    cr_exclude_fd(fd_);
    return map();
  }

  bool hold() const override { return sh_ && sh_->hold.load(std::memory_order_relaxed); }

  void suspend() override {
    if (sh_) munmap(sh_, sizeof(chan::Shared));
    sh_ = nullptr;
    call_.reset();
  }

  bool resume() override {
    if (!map()) return false;
    cr_exclude_fd(fd_);  // a restart ends every exclusion
    return true;
  }

  bool map() {
    void* p = mmap(nullptr, sizeof(chan::Shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) {
      fprintf(stderr, "crmpi: cannot map channel fd %d: %s\n", fd_, strerror(errno));
      return false;
    }
    sh_ = static_cast<chan::Shared*>(p);
    if (sh_->magic != chan::kMagic || sh_->version != chan::kVersion) {
      fprintf(stderr, "crmpi: channel has wrong magic/version\n");
      return false;
    }
    sh_->app_pid = getpid();
    spin_.my_cpu = &sh_->app_cpu;
    spin_.peer_cpu = &sh_->agent_cpu;
    seen_ = sh_->rep_seq.load();
    if (const char* s = getenv("CRMPI_SPIN_NS")) spin_.max_ns = spin_.cur_ns = atol(s);
    if (const char* s = getenv("CRMPI_SPIN_MIN_NS")) spin_.min_ns = atol(s);
    call_.emplace(sh_->msg, sh_->data, chan::kDataSize);
    return true;
  }
  void detach() override {
    if (sh_) munmap(sh_, sizeof(chan::Shared));
    sh_ = nullptr;
    call_.reset();
    detached_ = true;
  }
  void set_callback(CallbackFn fn) override { cb_ = fn; }

  // The call slot and the inline area are the Call's storage: describing a
  // call writes straight into the channel.
  Call& begin(uint32_t op) override {
    attached()->msg.op = op;
    call_->arena.used = 0;
    return *call_;
  }

  int execute(Call& /*c: always call_, the channel slot*/) override {
    for (;;) {
      sh_->call_seq.fetch_add(1, std::memory_order_release);
      chan::ring(sh_->req_seq, sh_->agent_sleeping);
      uint32_t v;
      while ((v = chan::wait_change(sh_->rep_seq, sh_->app_sleeping, seen_, spin_, parent_alive)) ==
             seen_) {
        if (!parent_alive()) {
          fprintf(stderr, "crmpi: the agent (MPI lower half) died\n");
          _exit(1);
        }
      }
      seen_ = v;
      if (int rc = sh_->async_rc.load(std::memory_order_relaxed)) async_failed(rc);
      if (sh_->msg.kind != chan::kCallback) return sh_->msg.rc;
      cb_(*call_);
      sh_->msg.op = chan::kOpCallbackDone;
    }
  }

  // A posted send is an AsyncSend entry in the ring: header, then the
  // payload and its wire trailer (docs/protocol.md, "Wire format").
  bool post_send(const chan::SendArgs& a, const Payload& p) override {
    if (p.bytes > chan::kAsyncMaxPayload || hold()) return false;
    chan::AsyncSend* h = reserve(chan::wire_bytes(p.bytes));
    if (!h) return false;
    h->bytes = p.bytes;
    h->type = a.type;
    h->count = a.count;
    h->dest = a.dest;
    h->tag = a.tag;
    h->comm = a.comm;
    p.write(reinterpret_cast<char*>(h + 1));
    sh_->async_tail.store(pending_tail_, std::memory_order_release);
    chan::ring(sh_->req_seq, sh_->agent_sleeping);
    return true;
  }

 private:
  // Reserve a ring entry for `bytes` of payload (wrapping to the ring's start
  // when the tail has no room); nullptr when the ring is full. The entry is
  // published by storing pending_tail_ into async_tail.
  chan::AsyncSend* reserve(size_t bytes) {
    size_t need = (sizeof(chan::AsyncSend) + bytes + 63) & ~size_t{63};
    uint64_t tail = sh_->async_tail.load(std::memory_order_relaxed);
    uint64_t head = sh_->async_head.load(std::memory_order_acquire);
    size_t pos = tail % chan::kAsyncSize;
    size_t wrap = pos + need > chan::kAsyncSize ? chan::kAsyncSize - pos : 0;
    if (tail + wrap + need - head > chan::kAsyncSize) return nullptr;
    if (wrap) {
      reinterpret_cast<chan::AsyncSend*>(sh_->async_ring + pos)->size = 0;
      tail += wrap;
      pos = 0;
    }
    auto* h = reinterpret_cast<chan::AsyncSend*>(sh_->async_ring + pos);
    h->size = static_cast<uint32_t>(need);
    pending_tail_ = tail + need;
    return h;
  }

  chan::Shared* attached() {
    if (!sh_) {
      fprintf(stderr, "crmpi: an MPI function that needs the MPI library was called %s\n",
              detached_ ? "after MPI_Finalize" : "before MPI_Init");
      fflush(stderr);
      _exit(1);
    }
    return sh_;
  }

  bool detached_ = false;
  // A posted send failed in the agent; its caller has long returned, so the
  // error is fatal whatever the communicator's error handler.
  [[noreturn]] void async_failed(int rc) {
    fprintf(stderr, "crmpi: a posted MPI_Send failed in the lower half (MPI error %d)\n", rc);
    fflush(stderr);
    _exit(1);
  }

  uint64_t pending_tail_ = 0;
  int fd_ = -1;
  chan::Shared* sh_ = nullptr;
  uint32_t seen_ = 0;
  chan::Spin spin_{20000, 1000, 20000};
  CallbackFn cb_ = nullptr;
  std::optional<Call> call_;  // over sh_->msg and sh_->data while attached
};

}  // namespace

LowerHalf& lower_half() {
  static AgentLowerHalf lh;
  return lh;
}

}  // namespace crmpi
