/* blob.h -- the contract between cr_restart (phase 1) and the restorer blob.
 *
 * Phase 1 copies the blob's code into a fresh mapping that collides with
 * nothing in the target layout, lays out this argument block and the thread
 * stacks behind it, and calls crb_entry() on a stack inside that mapping.
 * From then on the blob owns the process: see restorer_blob.c.
 * Plain C, fixed-size fields: the blob is freestanding.
 */
#ifndef CRMPI_RESTORE_BLOB_H
#define CRMPI_RESTORE_BLOB_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum crb_op_kind {
  CRB_MUNMAP = 1, /* a = addr, b = len */
  CRB_MREMAP = 2, /* a = old, b = len, c = new (MREMAP_FIXED) */
  CRB_BRK = 3,    /* a = new program break */
  CRB_SET_MM = 4, /* a = struct prctl_mm_map*, b = size: best effort */
};

/* libcr's restore mailbox, in the restarted process's own memory (its
 * address is ProcessRecord.mailbox_addr): the blob writes its range there
 * so that libcr can unmap it once every thread is back; libcr's restart
 * fix-ups read it.  The one definition, shared by both sides. */
struct crb_mailbox {
  uint64_t blob_addr;
  uint64_t blob_len;
  uint32_t restored_threads; /* futex word: threads back in libcr */
  uint32_t rseq_failures;
  uint32_t restarts; /* how many times this memory was restarted */
  uint32_t reserved;
};

struct crb_op {
  uint32_t kind;
  uint32_t reserved;
  uint64_t a, b, c;
};

struct crb_ctx { /* same layout as crimg::JmpContext */
  uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
  uint32_t mxcsr;
  uint16_t fpucw;
  uint16_t pad[3];
};

struct crb_thread {
  struct crb_ctx ctx;
  uint64_t fs_base;
  uint64_t tid_addr; /* &struct pthread::tid, 0 if unknown */
  uint64_t robust_head;
  uint64_t robust_len;
  uint64_t rseq_area;
  uint32_t rseq_len;
  uint32_t rseq_sig;
  uint64_t sigmask;
  uint64_t ss_sp;
  uint64_t ss_size;
  int32_t ss_flags;
  int32_t is_leader;
  uint64_t stack_top; /* small stack inside the blob mapping */
};

struct crb_args {
  uint64_t nops;
  struct crb_op* ops;
  uint64_t nthreads;
  struct crb_thread* threads;
  uint64_t mailbox; /* target address of libcr's struct crb_mailbox, or 0 */
  uint64_t blob_base;
  uint64_t blob_len;
  uint32_t rseq_failures;
  uint32_t reserved;
  char fail_msg[64]; /* "cr_restart: restorer failed at step " */
};

/* Entry point, called on a stack inside the blob mapping.  Never returns. */
__attribute__((visibility("hidden"))) void crb_entry(struct crb_args* args);

/* Bounds of the blob's code, provided by the linker for section "crblob". */
extern const char __start_crblob[];
extern const char __stop_crblob[];

#ifdef __cplusplus
}
#endif

#endif
