// threads.cpp (restore side) -- build the restorer blob and enter it.
//
// The blob mapping holds, in order: a copy of the blob's code (read-exec),
// the argument block, the op list, the thread table, then one small stack
// per thread.  The keep list (what the blob must not unmap) is: regions
// already in place, staging mappings, the kernel's special mappings, and
// the blob itself.
#include <errno.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "crmpi/procstat.h"
#include "state.h"

extern "C" {
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
}

namespace crrestore {
namespace {

constexpr uint64_t kThreadStack = 32 << 10;
constexpr uint64_t kLeaderStack = 128 << 10;
constexpr uint64_t kUserTop = 0x7ffffffff000ull;

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) & ~(a - 1);
}

uint64_t read_start_brk() {
  // Field 47 of /proc/self/stat.
  std::ifstream in("/proc/self/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t v = 0;
  return crmpi::procstat::field(all.c_str(), 47, &v) ? v : 0;
}

}  // namespace

void enter_blob(State& s) {
  const crimg::Image& img = s.img;
  const size_t nthreads = img.threads.size();
  const uint64_t code_len = static_cast<uint64_t>(__stop_crblob - __start_crblob);
  const uint64_t code_sz = align_up(code_len, s.page);

  // Keep list without the blob yet: placed regions, staging, specials.
  std::vector<Range> keep = s.keep;
  for (size_t i = 0; i < img.regions.size(); ++i) {
    const crimg::RegionRecord& r = img.regions[i].rec;
    if (r.kind == crimg::kRegSpecial) continue;
    const uint64_t len = r.end - r.start;
    if (s.place[i].staged) {
      keep.push_back({s.place[i].staging, s.place[i].staging + len});
    } else {
      keep.push_back({r.start, r.end});
    }
  }
  // Ops: unmap gaps, reset brk, specials (already in s.ops), staged moves.
  std::vector<crb_op> moves;
  for (size_t i = 0; i < img.regions.size(); ++i)
    if (s.place[i].staged) {
      const crimg::RegionRecord& r = img.regions[i].rec;
      moves.push_back({CRB_MREMAP, 0, s.place[i].staging, r.end - r.start, r.start});
    }
  const size_t max_ops = 2 * (keep.size() + 2) + 2 + s.ops.size() + moves.size();

  uint64_t off = code_sz;
  const uint64_t args_off = off;
  off = align_up(off + sizeof(crb_args), 64);
  const uint64_t ops_off = off;
  off = align_up(off + max_ops * sizeof(crb_op), 64);
  const uint64_t mm_off = off;
  off = align_up(off + sizeof(struct prctl_mm_map), 64);
  const uint64_t thr_off = off;
  off = align_up(off + nthreads * sizeof(crb_thread), s.page);
  const uint64_t stacks_off = off;
  off += kLeaderStack + nthreads * kThreadStack;
  const uint64_t total = align_up(off, s.page);

  std::vector<Range> busy = own_mappings();
  busy.insert(busy.end(), keep.begin(), keep.end());
  busy.insert(busy.end(), s.avoid.begin(), s.avoid.end());
  for (const crimg::RegionInfo& r : img.regions) busy.push_back({r.rec.start, r.rec.end});
  const uint64_t base = find_free(busy, total);
  void* m = mmap(reinterpret_cast<void*>(base), total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m == MAP_FAILED) s.fail(std::string("cannot map the restorer: ") + strerror(errno));
  char* b = static_cast<char*>(m);
  memcpy(b, __start_crblob, code_len);
  keep.push_back({base, base + total});

  // Gaps between kept ranges, over the whole user address space.
  std::sort(keep.begin(), keep.end(), [](const Range& a, const Range& c) { return a.lo < c.lo; });
  std::vector<crb_op> ops;
  // The break first, while our heap still exists: the kernel only moves
  // the break of a live heap mapping.
  if (s.start_brk) ops.push_back({CRB_BRK, 0, s.start_brk, 0, 0});
  uint64_t cur = 0;
  for (const Range& k : keep) {
    if (k.lo > cur) ops.push_back({CRB_MUNMAP, 0, cur, k.lo - cur, 0});
    cur = std::max(cur, k.hi);
  }
  if (cur < kUserTop) ops.push_back({CRB_MUNMAP, 0, cur, kUserTop - cur, 0});
  ops.insert(ops.end(), s.ops.begin(), s.ops.end());
  ops.insert(ops.end(), moves.begin(), moves.end());
  // The kernel's brk and argument bounds: those of the image, so that the
  // restored malloc's sbrk() and /proc/PID/cmdline work.  Unprivileged
  // (exe_fd = -1); if the kernel refuses, the brk reset above remains.
  const crimg::ProcessRecord& pr = img.process.rec;
  if (pr.mm[0] && pr.brk_current) {
    auto* mm = reinterpret_cast<struct prctl_mm_map*>(b + mm_off);
    memset(mm, 0, sizeof *mm);
    mm->start_code = pr.mm[0];
    mm->end_code = pr.mm[1];
    mm->start_stack = pr.mm[2];
    mm->start_data = pr.mm[3];
    mm->end_data = pr.mm[4];
    mm->start_brk = pr.mm[5];
    mm->brk = pr.brk_current;
    mm->arg_start = pr.mm[6];
    mm->arg_end = pr.mm[7];
    mm->env_start = pr.mm[8];
    mm->env_end = pr.mm[9];
    mm->exe_fd = static_cast<__u32>(-1);
    ops.push_back({CRB_SET_MM, 0, base + mm_off, sizeof *mm, 0});
  }
  if (ops.size() > max_ops) s.fail("internal error: restorer op list overflow");

  auto* args = reinterpret_cast<crb_args*>(b + args_off);
  memset(args, 0, sizeof *args);
  auto* opv = reinterpret_cast<crb_op*>(b + ops_off);
  memcpy(opv, ops.data(), ops.size() * sizeof(crb_op));
  args->nops = ops.size();
  args->ops = reinterpret_cast<crb_op*>(base + ops_off);
  args->nthreads = nthreads;
  args->threads = reinterpret_cast<crb_thread*>(base + thr_off);
  args->mailbox = img.process.rec.mailbox_addr;
  args->blob_base = base;
  args->blob_len = total;
  strncpy(args->fail_msg, "cr_restart: restorer failed at step ", sizeof args->fail_msg - 1);

  // The leader is the original main thread (its TID was the PID).
  size_t leader = 0;
  for (size_t i = 0; i < nthreads; ++i)
    if (img.threads[i].rec.flags & crimg::kThreadMain) leader = i;
  auto* tv = reinterpret_cast<crb_thread*>(b + thr_off);
  uint64_t stack = base + stacks_off;
  const int64_t tid_off = img.process.rec.tid_offset;
  for (size_t i = 0; i < nthreads; ++i) {
    const crimg::ThreadRecord& r = img.threads[i].rec;
    crb_thread& t = tv[i];
    memset(&t, 0, sizeof t);
    static_assert(sizeof(crb_ctx) == sizeof(crimg::JmpContext));
    memcpy(&t.ctx, &r.ctx, sizeof t.ctx);
    t.fs_base = r.fs_base;
    t.tid_addr = tid_off >= 0 ? r.fs_base + static_cast<uint64_t>(tid_off) : 0;
    t.robust_head = r.robust_head;
    t.robust_len = r.robust_len;
    t.rseq_area = r.rseq_area;
    t.rseq_len = r.rseq_len;
    t.rseq_sig = r.rseq_sig;
    t.sigmask = r.handler_sigmask;
    t.ss_sp = r.altstack_sp;
    t.ss_size = r.altstack_size;
    t.ss_flags = r.altstack_flags;
    t.is_leader = i == leader;
    stack += i == leader ? kLeaderStack : kThreadStack;
    t.stack_top = stack & ~15ull;
  }
  if (mprotect(b, code_sz, PROT_READ | PROT_EXEC) != 0)
    s.fail(std::string("cannot protect the restorer: ") + strerror(errno));

  // Point of no return.  Our own rseq registration would make the kernel
  // write into memory that is about to become the target's: drop it.
  if (&__rseq_size && &__rseq_offset && __rseq_size > 0) {
    char* tp = static_cast<char*>(__builtin_thread_pointer());
    syscall(SYS_rseq, tp + __rseq_offset, __rseq_size < 32 ? 32 : __rseq_size, 1 /* UNREGISTER */,
            CRMPI_RSEQ_SIG_X86);
  }
  const uint64_t entry =
      base + static_cast<uint64_t>(reinterpret_cast<const char*>(&crb_entry) - __start_crblob);
  const uint64_t leader_stack = tv[leader].stack_top;
  __asm__ volatile(
      "mov %0, %%rsp\n"
      "xor %%ebp, %%ebp\n"
      "call *%1\n"
      "hlt\n"
      :
      : "r"(leader_stack), "r"(entry), "D"(args)
      : "memory");
  __builtin_unreachable();
}

// Exposed for the stage machine.
uint64_t current_start_brk() {
  return read_start_brk();
}

}  // namespace crrestore
