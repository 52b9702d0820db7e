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

namespace {

// Where things go in the blob's mapping: code, args, ops, the mm map, the
// thread table, then the stacks.
struct BlobLayout {
  uint64_t code_len, code_sz, args_off, ops_off, mm_off, thr_off, stacks_off, total;
  size_t max_ops;
  uint64_t base = 0;
  char* b = nullptr;
};

// Ranges the blob must keep: placed regions, staging copies, what the
// earlier stages asked for (specials).
std::vector<Range> kept_ranges(const State& s) {
  std::vector<Range> keep = s.keep;
  for (size_t i = 0; i < s.img.regions.size(); ++i) {
    const crimg::RegionRecord& r = s.img.regions[i].rec;
    if (r.kind == crimg::kRegSpecial) continue;
    const uint64_t len = r.end - r.start;
    keep.push_back(s.place[i].staged ? Range{s.place[i].staging, s.place[i].staging + len}
                                     : Range{r.start, r.end});
  }
  return keep;
}

// Staged regions move to their own addresses.
std::vector<crb_op> staged_moves(const State& s) {
  std::vector<crb_op> moves;
  for (size_t i = 0; i < s.img.regions.size(); ++i)
    if (s.place[i].staged) {
      const crimg::RegionRecord& r = s.img.regions[i].rec;
      moves.push_back({CRB_MREMAP, 0, s.place[i].staging, r.end - r.start, r.start});
    }
  return moves;
}

BlobLayout plan_layout(const State& s, size_t nkeep, size_t nmoves) {
  BlobLayout l;
  const size_t nthreads = s.img.threads.size();
  l.code_len = static_cast<uint64_t>(__stop_crblob - __start_crblob);
  l.code_sz = align_up(l.code_len, s.page);
  l.max_ops = 2 * (nkeep + 2) + 2 + s.ops.size() + nmoves;
  uint64_t off = l.code_sz;
  l.args_off = off;
  off = align_up(off + sizeof(crb_args), 64);
  l.ops_off = off;
  off = align_up(off + l.max_ops * sizeof(crb_op), 64);
  l.mm_off = off;
  off = align_up(off + sizeof(struct prctl_mm_map), 64);
  l.thr_off = off;
  off = align_up(off + nthreads * sizeof(crb_thread), s.page);
  l.stacks_off = off;
  off += kLeaderStack + nthreads * kThreadStack;
  l.total = align_up(off, s.page);
  return l;
}

// Maps the blob where nothing of ours, of the target or of the staging is,
// and copies its code in.
void map_blob(State& s, const std::vector<Range>& keep, BlobLayout* l) {
  std::vector<Range> busy = own_mappings();
  busy.insert(busy.end(), keep.begin(), keep.end());
  busy.insert(busy.end(), s.avoid.begin(), s.avoid.end());
  for (const crimg::RegionInfo& r : s.img.regions) busy.push_back({r.rec.start, r.rec.end});
  l->base = find_free(busy, l->total);
  void* m = mmap(reinterpret_cast<void*>(l->base), l->total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m == MAP_FAILED) s.fail(std::string("cannot map the restorer: ") + strerror(errno));
  l->b = static_cast<char*>(m);
  memcpy(l->b, __start_crblob, l->code_len);
}

// The kernel's brk and argument bounds: those of the image, so that the
// restored malloc's sbrk() and /proc/PID/cmdline work.  Unprivileged
// (exe_fd = -1); if the kernel refuses, the brk reset remains.
bool fill_mm_map(const crimg::ProcessRecord& pr, struct prctl_mm_map* mm) {
  if (!pr.mm[0] || !pr.brk_current) return false;
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
  return true;
}

// The blob's op list: the break first (while our heap still exists: the
// kernel only moves the break of a live heap mapping), unmap every gap
// between kept ranges over the whole user address space, the earlier
// stages' ops (specials), the staged moves, the mm map.
std::vector<crb_op> build_ops(State& s, std::vector<Range> keep, const std::vector<crb_op>& moves,
                              const BlobLayout& l) {
  std::sort(keep.begin(), keep.end(), [](const Range& a, const Range& c) { return a.lo < c.lo; });
  std::vector<crb_op> ops;
  if (s.start_brk) ops.push_back({CRB_BRK, 0, s.start_brk, 0, 0});
  uint64_t cur = 0;
  for (const Range& k : keep) {
    if (k.lo > cur) ops.push_back({CRB_MUNMAP, 0, cur, k.lo - cur, 0});
    cur = std::max(cur, k.hi);
  }
  if (cur < kUserTop) ops.push_back({CRB_MUNMAP, 0, cur, kUserTop - cur, 0});
  ops.insert(ops.end(), s.ops.begin(), s.ops.end());
  ops.insert(ops.end(), moves.begin(), moves.end());
  auto* mm = reinterpret_cast<struct prctl_mm_map*>(l.b + l.mm_off);
  if (fill_mm_map(s.img.process.rec, mm))
    ops.push_back({CRB_SET_MM, 0, l.base + l.mm_off, sizeof *mm, 0});
  if (ops.size() > l.max_ops) s.fail("internal error: restorer op list overflow");
  return ops;
}

crb_args* fill_args(const State& s, const std::vector<crb_op>& ops, const BlobLayout& l) {
  auto* args = reinterpret_cast<crb_args*>(l.b + l.args_off);
  memset(args, 0, sizeof *args);
  memcpy(l.b + l.ops_off, ops.data(), ops.size() * sizeof(crb_op));
  args->nops = ops.size();
  args->ops = reinterpret_cast<crb_op*>(l.base + l.ops_off);
  args->nthreads = s.img.threads.size();
  args->threads = reinterpret_cast<crb_thread*>(l.base + l.thr_off);
  args->mailbox = s.img.process.rec.mailbox_addr;
  args->blob_base = l.base;
  args->blob_len = l.total;
  strncpy(args->fail_msg, "cr_restart: restorer failed at step ", sizeof args->fail_msg - 1);
  return args;
}

// The thread table; returns the leader's stack top.  The leader is the
// original main thread (its TID was the PID).
uint64_t fill_threads(const crimg::Image& img, const BlobLayout& l) {
  const size_t nthreads = img.threads.size();
  size_t leader = 0;
  for (size_t i = 0; i < nthreads; ++i)
    if (img.threads[i].rec.flags & crimg::kThreadMain) leader = i;
  auto* tv = reinterpret_cast<crb_thread*>(l.b + l.thr_off);
  uint64_t stack = l.base + l.stacks_off;
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
  return tv[leader].stack_top;
}

}  // namespace

// The last stage: lay the blob out, then jump into it on its own stack.
void enter_blob(State& s) {
  std::vector<Range> keep = kept_ranges(s);
  const std::vector<crb_op> moves = staged_moves(s);
  BlobLayout l = plan_layout(s, keep.size(), moves.size());
  map_blob(s, keep, &l);
  keep.push_back({l.base, l.base + l.total});
  const std::vector<crb_op> ops = build_ops(s, keep, moves, l);
  crb_args* args = fill_args(s, ops, l);
  const uint64_t leader_stack = fill_threads(s.img, l);
  if (mprotect(l.b, l.code_sz, PROT_READ | PROT_EXEC) != 0)
    s.fail(std::string("cannot protect the restorer: ") + strerror(errno));

  // Point of no return.  Our own rseq registration would make the kernel
  // write into memory that is about to become the target's: drop it.
  if (&__rseq_size && &__rseq_offset && __rseq_size > 0) {
    char* tp = static_cast<char*>(__builtin_thread_pointer());
    syscall(SYS_rseq, tp + __rseq_offset, __rseq_size < 32 ? 32 : __rseq_size, 1 /* UNREGISTER */,
            CRMPI_RSEQ_SIG_X86);
  }
  const uint64_t entry =
      l.base + static_cast<uint64_t>(reinterpret_cast<const char*>(&crb_entry) - __start_crblob);
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
