/* restorer_blob.c -- the last stage of a restart, running in no library.
 *
 * Algorithm:
 *   Phase 1 (cr_restart, with glibc) has already mapped and filled every
 *   target region it could place directly, filled the others in staging
 *   mappings, restored fds, signal handlers, cwd, umask and rlimits, and
 *   blocked every signal.  It then copied this code into a mapping that
 *   collides with nothing and called crb_entry() on a stack inside it.
 *   1. Run the op list: unmap every range that is not kept (this removes
 *      cr_restart's own code, libraries, heap and stack), reset the program
 *      break, move the kernel's [vdso]/[vvar] to the addresses the image
 *      expects (through temporary addresses, so that no move clobbers
 *      another), and mremap each staging mapping onto its target address.
 *   2. Record the blob's range in the target's mailbox so that libcr can
 *      unmap it once every thread has left.
 *   3. clone() every thread but the leader, with the target's TLS, and with
 *      CLONE_CHILD_SETTID/CLEARTID pointing at glibc's struct pthread::tid
 *      so that pthread_join and pthread_kill work on the new TIDs.  The
 *      leader (the original main thread) stays on this, the initial, task.
 *   4. Every thread then sets its fs base, TID address, robust list, rseq
 *      area, alternate stack and signal mask, loads its saved callee-saved
 *      registers and stack pointer, and jumps to where it stopped inside
 *      libcr with eax = 1: cr_ctx_save() returns a second time.
 *
 * Constraints: no libc, no global data, no string literals, no jump tables,
 * no calls outside section "crblob" (a CTest checks the object file has no
 * relocations).  Errors print "cr_restart: restorer failed at step N
 * (errno E)" from the argument block and exit with status 127.
 */
#include <stdint.h>

#include "blob.h"

#define CRB __attribute__((section("crblob"), used, visibility("hidden")))
#define CRB_INLINE __attribute__((always_inline)) static inline

#define NR_write 1
#define NR_mprotect 10
#define NR_munmap 11
#define NR_brk 12
#define NR_rt_sigprocmask 14
#define NR_mremap 25
#define NR_getpid 39
#define NR_clone 56
#define NR_exit 60
#define NR_sigaltstack 131
#define NR_arch_prctl 158
#define NR_gettid 186
#define NR_set_tid_address 218
#define NR_exit_group 231
#define NR_set_robust_list 273
#define NR_rseq 334
#define NR_prctl 157

#define ARCH_SET_FS 0x1002
#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
#define SS_DISABLE 2

#define CLONE_VM 0x00000100
#define CLONE_FS 0x00000200
#define CLONE_FILES 0x00000400
#define CLONE_SIGHAND 0x00000800
#define CLONE_THREAD 0x00010000
#define CLONE_SYSVSEM 0x00040000
#define CLONE_SETTLS 0x00080000
#define CLONE_PARENT_SETTID 0x00100000
#define CLONE_CHILD_CLEARTID 0x00200000
#define CLONE_CHILD_SETTID 0x01000000

CRB_INLINE long sys1(long n, long a) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a) : "rcx", "r11", "memory");
  return r;
}
CRB_INLINE long sys2(long n, long a, long b) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
  return r;
}
CRB_INLINE long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}
CRB_INLINE long sys4(long n, long a, long b, long c, long d) {
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return r;
}
CRB_INLINE long sys5(long n, long a, long b, long c, long d, long e) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(r)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return r;
}

/* Spawns a thread on @stack that runs crb_thread_start(t).  Returns the
 * child's TID in the parent, or -errno. */
__attribute__((visibility("hidden"))) long crb_clone(long flags, uint64_t stack, uint64_t ptid,
                                                     uint64_t ctid, uint64_t tls,
                                                     struct crb_thread* t);
__attribute__((visibility("hidden"))) void crb_thread_start(struct crb_thread* t);
__attribute__((visibility("hidden"))) void crb_jump(const struct crb_ctx* c)
    __attribute__((noreturn));

__asm__(
    ".pushsection crblob,\"ax\",@progbits\n"
    ".type crb_clone,@function\n"
    "crb_clone:\n"
    "  push %r12\n"
    "  mov %r9, %r12\n" /* t survives the syscall in r12 */
    "  mov %rcx, %r10\n"
    "  mov $56, %eax\n" /* clone(flags, stack, ptid, ctid, tls) */
    "  syscall\n"
    "  test %rax, %rax\n"
    "  jz 1f\n"
    "  pop %r12\n"
    "  ret\n"
    "1:\n" /* child: on its own stack */
    "  xor %ebp, %ebp\n"
    "  mov %r12, %rdi\n"
    "  call crb_thread_start\n"
    "  hlt\n"
    ".size crb_clone, .-crb_clone\n"
    ".type crb_jump,@function\n"
    "crb_jump:\n" /* rdi = struct crb_ctx* */
    "  ldmxcsr 64(%rdi)\n"
    "  fldcw 68(%rdi)\n"
    "  mov 0(%rdi), %rbx\n"
    "  mov 8(%rdi), %rbp\n"
    "  mov 16(%rdi), %r12\n"
    "  mov 24(%rdi), %r13\n"
    "  mov 32(%rdi), %r14\n"
    "  mov 40(%rdi), %r15\n"
    "  mov 48(%rdi), %rsp\n"
    "  mov 56(%rdi), %rcx\n"
    "  mov $1, %eax\n" /* cr_ctx_save() returns 1 */
    "  jmp *%rcx\n"
    ".size crb_jump, .-crb_jump\n"
    ".popsection\n");

__attribute__((section("crblob"), used)) static void crb_fail(struct crb_args* a, uint64_t step,
                                                              long err) {
  volatile char buf[96]; /* volatile: no merged stores from .rodata */
  int n = 0;
  for (int i = 0; i < 63 && a->fail_msg[i]; ++i) buf[n++] = a->fail_msg[i];
  volatile char digits[24];
  int d = 0;
  do {
    digits[d++] = (char)('0' + step % 10);
    step /= 10;
  } while (step);
  while (d) buf[n++] = digits[--d];
  buf[n++] = ' ';
  buf[n++] = '(';
  buf[n++] = 'e';
  buf[n++] = '=';
  unsigned long e = (unsigned long)(-err);
  do {
    digits[d++] = (char)('0' + e % 10);
    e /= 10;
  } while (e);
  while (d) buf[n++] = digits[--d];
  buf[n++] = ')';
  buf[n++] = '\n';
  sys3(NR_write, 2, (long)buf, n);
  sys1(NR_exit_group, 127);
  for (;;) {
  }
}

CRB void crb_thread_start(struct crb_thread* t) {
  if (t->is_leader) {
    sys2(NR_arch_prctl, ARCH_SET_FS, (long)t->fs_base);
    if (t->tid_addr) {
      long tid = sys1(NR_set_tid_address, (long)t->tid_addr);
      *(volatile int32_t*)t->tid_addr = (int32_t)tid;
    }
  }
  if (t->robust_head) sys2(NR_set_robust_list, (long)t->robust_head, (long)t->robust_len);
  /* A failed rseq registration only leaves sched_getcpu() stale. */
  if (t->rseq_area) sys4(NR_rseq, (long)t->rseq_area, t->rseq_len, 0, t->rseq_sig);
  if (t->ss_sp || (t->ss_flags & SS_DISABLE)) {
    struct {
      uint64_t sp;
      int32_t flags;
      int32_t pad;
      uint64_t size;
    } ss;
    ss.sp = t->ss_sp;
    ss.flags = (t->ss_flags & SS_DISABLE) ? SS_DISABLE : 0;
    ss.pad = 0;
    ss.size = t->ss_size;
    sys2(NR_sigaltstack, (long)&ss, 0);
  }
  sys4(NR_rt_sigprocmask, 2 /* SIG_SETMASK */, (long)&t->sigmask, 0, 8);
  crb_jump(&t->ctx);
}

CRB void crb_entry(struct crb_args* a) {
  /* 1. Address space. */
  for (uint64_t i = 0; i < a->nops; ++i) {
    const struct crb_op* op = &a->ops[i];
    long r = 0;
    switch (op->kind) {
      case CRB_MUNMAP:
        r = sys2(NR_munmap, (long)op->a, (long)op->b);
        break;
      case CRB_MREMAP:
        r = sys5(NR_mremap, (long)op->a, (long)op->b, (long)op->b, MREMAP_MAYMOVE | MREMAP_FIXED,
                 (long)op->c);
        if (r == (long)op->c) r = 0;
        break;
      case CRB_BRK:
        sys1(NR_brk, (long)op->a); /* best effort: returns the break */
        break;
      case CRB_SET_MM: /* prctl(PR_SET_MM, PR_SET_MM_MAP, map, size): best effort */
        sys5(NR_prctl, 35, 14, (long)op->a, (long)op->b, 0);
        break;
      default:
        r = -22;
    }
    if (r < 0) crb_fail(a, i, r);
  }
  /* 2. Tell libcr where we are, so that it can unmap us later. */
  if (a->mailbox) {
    volatile struct crb_mailbox* mb = (volatile struct crb_mailbox*)a->mailbox;
    mb->blob_addr = a->blob_base;
    mb->blob_len = a->blob_len;
  }
  /* 3. Threads. */
  struct crb_thread* leader = 0;
  const long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                     CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
  for (uint64_t i = 0; i < a->nthreads; ++i) {
    struct crb_thread* t = &a->threads[i];
    if (t->is_leader) {
      leader = t;
      continue;
    }
    const long f = t->tid_addr ? flags : flags & ~(CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID);
    long r = crb_clone(f, t->stack_top - 16, t->tid_addr, t->tid_addr, t->fs_base, t);
    if (r < 0) crb_fail(a, a->nops + i, r);
  }
  /* 4. Become the leader. */
  if (leader) crb_thread_start(leader);
  sys1(NR_exit, 0);
  for (;;) {
  }
}
