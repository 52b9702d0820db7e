// channel_fuzz: speaks the channel protocol directly (no libcrpmpi) and sends
// the agent thousands of malformed calls: unknown ops, random handles, request
// ids, counts and buffer descriptors. The agent must reject each one with an
// error reply (never crash, hang or abort the job), then still answer a valid
// call and finalize cleanly. Run under crmpirun only.
#include <mpi.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "crmpi/channel.h"

using namespace crmpi::chan;

namespace {

Shared* sh;
uint32_t seen = 0;
Spin spin;

int call(uint32_t op) {
  sh->msg.op = op;
  sh->call_seq.fetch_add(1);
  ring(sh->req_seq, sh->agent_sleeping);
  uint32_t v;
  while ((v = wait_change(sh->rep_seq, sh->app_sleeping, seen, spin, nullptr)) == seen) {
  }
  seen = v;
  return sh->msg.rc;
}

}  // namespace

int main(int argc, char** argv) {
  const char* fd = getenv("CRMPI_CHANNEL_FD");
  if (!fd) {
    fprintf(stderr, "channel_fuzz: run me under crmpirun\n");
    return 2;
  }
  void* p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED, atoi(fd), 0);
  if (p == MAP_FAILED) return 2;
  sh = static_cast<Shared*>(p);
  sh->msg.a.hello.required = MPI_THREAD_SINGLE;
  call(kOpHello);
  int rank = static_cast<int>(sh->msg.a.hello_out.rank);
  int iters = argc > 1 ? atoi(argv[1]) : 3000, rejected = 0;
  std::mt19937_64 rng(4242 + rank);
  auto small_or_random = [&] { return rng() % 4 == 0 ? rng() % 8 : rng(); };
  for (int i = 0; i < iters; ++i) {
    uint32_t op;
    do {
      op = static_cast<uint32_t>(rng() % (kOpMax + 3));
    } while (op == kOpHello || op == kOpFinalize || op == kOpAbort || op == kOpOpCreate ||
             op == kOpCallbackDone || op == kOpBsendFlush || op == kOpErrorString ||
             op == kOpErrorClass ||
             // A well-formed job checkpoint request whose random `after`
             // may stop (SIGSTOP) or end the job: not a malformed call.
             op == kOpCkptRequest);
    Msg& m = sh->msg;
    for (auto& a : m.a.raw) a = small_or_random();
    bool no_buffers = rng() % 2;  // half the time, reach the handle checks
    for (Buf* bp : {&m.src, &m.dst, &m.extra}) {
      Buf& b = *bp;
      if (no_buffers) {
        b = Buf{};
        continue;
      }
      b.mode = static_cast<uint32_t>(rng() % 6);
      b.addr = rng();
      b.bytes = small_or_random();
      b.off = small_or_random();
      b.prefill = rng() % 2;
    }
    for (int k = 0; k < 64; ++k) reinterpret_cast<uint64_t*>(sh->data)[k] = small_or_random();
    if (call(op) != MPI_SUCCESS) ++rejected;
  }
  // Still sane: a valid call gets the right answer.
  sh->msg.src = sh->msg.dst = sh->msg.extra = Buf{};
  sh->msg.a.error.code = MPI_ERR_RANK;
  int rc = call(kOpErrorClass);
  bool ok = rc == MPI_SUCCESS && static_cast<int>(sh->msg.a.error.error_class) == MPI_ERR_RANK;
  printf("rank %d: %d malformed calls, %d rejected, agent %s\n", rank, iters, rejected,
         ok ? "still answers correctly" : "BROKEN");
  fflush(stdout);
  call(kOpFinalize);
  return ok ? 0 : 1;  // a few random calls are valid (e.g. completing 0 requests)
}
