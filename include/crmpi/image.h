/*
 * crmpi/image.h -- the on-disk layout of a crmpi process image, version 2.
 *
 * This header is the reference for the format, shared by everything that
 * reads or writes images: libcr's writer (in the checkpointed process), the
 * reader of cr_restart and cr_info, and later a kernel module.  It is plain
 * C99 (C11 or C++ for the layout assertions), with no dependency but
 * <stdint.h>/<stddef.h> (<linux/types.h> in the kernel).  docs/formats.md
 * narrates it.
 *
 * Everything is little-endian x86-64, fixed-size records with explicit
 * padding: the assertions at the end pin every size and key offset, so a
 * layout change that forgets to bump CRMPI_IMAGE_VERSION fails to compile
 * (and tests/libcr/data/sample-v2 fails to read).  A reader keeps reading
 * every version from 2 on that has shipped.
 *
 * An image is:
 *
 *   struct crmpi_file_header                       64 bytes
 *   sections, each: struct crmpi_section_header    64 bytes
 *                   + payload                      stored_size bytes
 *
 * Section order (required): PROCESS, THREADS, SIGNALS, FDS, PAGES...,
 * REGIONS, END.  Every header and every payload has its own XXH3-64
 * checksum (seed 0), so a flipped byte anywhere is detected and named; a
 * missing END means truncation.  Every section header repeats the file's
 * random image id, so a section taken from another image is refused.
 *
 * The image digest names a whole image in 64 bits (a job manifest records
 * it): d = XXH3-64 of the file header's checksum (8 bytes, little-endian);
 * then, for each section in file order, END included, d = XXH3-64 with
 * seed d of that section's header_checksum.  Every byte of the image is
 * covered, through the payload checksums inside the section headers.
 */
#ifndef CRMPI_IMAGE_H
#define CRMPI_IMAGE_H

#ifdef __KERNEL__
#include <linux/stddef.h>
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

#define CRMPI_IMAGE_MAGIC "CRMPIIMG" /* 8 bytes, no NUL */
#define CRMPI_IMAGE_VERSION 2u
#define CRMPI_ARCH_X86_64 62u             /* ELF EM_X86_64 */
#define CRMPI_SECTION_MAGIC 0x54434553u   /* "SECT" */

/* Hard limits a reader enforces before trusting any size field. */
#define CRMPI_MAX_METADATA_SECTION (256ull << 20)
#define CRMPI_MAX_PAGES_CHUNK (64ull << 20) /* raw payload */
#define CRMPI_MAX_THREADS 4096u
#define CRMPI_MAX_REGIONS (1u << 20)
#define CRMPI_MAX_FDS (1u << 20)   /* records, and fd numbers */
#define CRMPI_NUM_SIGNALS 64u      /* SIGNALS holds 1..64 */
#define CRMPI_USER_ADDR_TOP 0x7ffffffff000ull /* 4-level paging; [vsyscall] lies above */
#define CRMPI_MAX_DELETED_FILE_BYTES (64ull << 20)

/* ------------------------------------------------------------ file header */
struct crmpi_file_header {
  char magic[8];       /* CRMPI_IMAGE_MAGIC */
  uint32_t version;    /* CRMPI_IMAGE_VERSION */
  uint32_t arch;       /* CRMPI_ARCH_X86_64 */
  uint32_t page_size;
  uint32_t flags;      /* CRMPI_IMAGE_COMPRESSED if any PAGES section is zstd */
  uint64_t created_ns; /* CLOCK_REALTIME */
  uint32_t pid;
  uint32_t reserved0;  /* zero */
  uint64_t image_id;   /* random, never 0; repeated in every section header */
  uint64_t reserved1;  /* zero */
  uint64_t checksum;   /* XXH3-64 of the 56 bytes before it */
};
#define CRMPI_IMAGE_COMPRESSED 1u

/* ------------------------------------------------------------ sections */
enum crmpi_section_type {
  CRMPI_SEC_PROCESS = 1,
  CRMPI_SEC_THREADS = 2,
  CRMPI_SEC_SIGNALS = 3,
  CRMPI_SEC_FDS = 4,
  CRMPI_SEC_REGIONS = 5,
  CRMPI_SEC_PAGES = 6,
  CRMPI_SEC_END = 0x7fff
};

struct crmpi_section_header {
  uint32_t magic;            /* CRMPI_SECTION_MAGIC */
  uint32_t type;             /* enum crmpi_section_type */
  uint32_t flags;            /* CRMPI_SECTION_ZSTD */
  uint32_t index;            /* 0, 1, 2 ... in file order */
  uint64_t image_id;         /* the file header's image_id */
  uint64_t raw_size;         /* payload size once decompressed */
  uint64_t stored_size;      /* payload bytes that follow in the file */
  uint64_t payload_checksum; /* XXH3-64 of the stored payload */
  uint64_t reserved;         /* zero */
  uint64_t header_checksum;  /* XXH3-64 of the 56 bytes before it */
};
#define CRMPI_SECTION_ZSTD 1u

/* ------------------------------------------------------------ PROCESS
 * Payload: struct crmpi_process_record, then strings (u32 length + bytes):
 * cwd, exe, cmdline (NUL-separated arguments). */
#define CRMPI_NUM_RLIMITS 16
struct crmpi_process_record {
  uint32_t pid;
  uint32_t ppid;
  uint32_t uid; /* real uid: cr_restart refuses another user's image */
  uint32_t gid;
  uint32_t umask;
  uint32_t nthreads;
  uint32_t main_tid;     /* thread restored onto the restarting process's leader */
  uint32_t rseq_size;    /* glibc __rseq_size (0: rseq not registered) */
  int64_t rseq_offset;   /* glibc __rseq_offset: thread pointer -> rseq area */
  int64_t tid_offset;    /* thread pointer -> glibc's struct pthread::tid */
  uint64_t mailbox_addr; /* libcr's restore mailbox (libcr/src/restore/blob.h) */
  uint64_t brk_start;
  uint64_t brk_current;
  uint64_t rlimits[CRMPI_NUM_RLIMITS][2]; /* cur, max */
  uint32_t cr_signal;                     /* the signal libcr stops threads with */
  uint32_t reserved;
  /* The kernel's view of the address space (/proc/PID/stat fields 26-28,
   * 45-51): start_code, end_code, start_stack, start_data, end_data,
   * start_brk, arg_start, arg_end, env_start, env_end. */
  uint64_t mm[10];
  /* Interval timers ITIMER_REAL, _VIRTUAL, _PROF: interval and value, each
   * as seconds and microseconds. */
  uint64_t itimers[3][4];
};

/* ------------------------------------------------------------ THREADS
 * Payload: u32 count, then per thread struct crmpi_thread_record + xstate
 * bytes (xstate_size) + struct crmpi_pending_signal[npending]. */
struct crmpi_jmp_context { /* callee-saved state where a thread stopped inside libcr */
  uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
  uint32_t mxcsr;
  uint16_t fpucw;
  uint16_t pad[3];
};

struct crmpi_thread_record {
  uint32_t tid;
  uint32_t flags; /* CRMPI_THREAD_MAIN | CRMPI_THREAD_MANAGER */
  uint64_t fs_base;
  uint64_t gs_base;
  struct crmpi_jmp_context ctx;
  uint64_t handler_sigmask; /* mask inside libcr's handler (restored first) */
  uint64_t app_sigmask;     /* the interrupted context's mask (for cr_info) */
  uint64_t altstack_sp;
  uint64_t altstack_size;
  int32_t altstack_flags;
  uint32_t npending;
  uint64_t robust_head;
  uint64_t robust_len;
  uint64_t rseq_area;
  uint32_t rseq_len;
  uint32_t rseq_sig;
  uint64_t gregs[23];   /* interrupted context (ucontext gregs), for cr_info */
  uint32_t xstate_size; /* bytes of interrupted FPU/xstate that follow */
  uint32_t reserved;
};
/* The rseq signature glibc registers on x86 (RSEQ_SIG): recorded in each
 * thread record that has an rseq area, and used to re-register it. */
#define CRMPI_RSEQ_SIG_X86 0x53053053u
#define CRMPI_THREAD_MAIN 1u
#define CRMPI_THREAD_MANAGER 2u

struct crmpi_pending_signal {
  uint8_t siginfo[128]; /* siginfo_t as dequeued; requeued on resume */
};

/* ------------------------------------------------------------ SIGNALS
 * Payload: u32 count (CRMPI_NUM_SIGNALS), then struct crmpi_ksigaction for
 * signals 1..count. */
struct crmpi_ksigaction { /* the kernel's struct sigaction (rt_sigaction) */
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};

/* ------------------------------------------------------------ FDS
 * Payload: u32 count, then per fd struct crmpi_fd_record + strings: path,
 * data (pipe bytes, deleted file contents). */
enum crmpi_fd_kind {
  CRMPI_FD_FILE = 1,    /* regular file: reopened by path at offset */
  CRMPI_FD_DIR = 2,     /* directory */
  CRMPI_FD_DEVICE = 3,  /* character device (/dev/null ...): reopened by path */
  CRMPI_FD_PIPE = 4,    /* pipe; both ends share pipe_id; data restored */
  CRMPI_FD_SOCKET = 5,  /* placeholder: calls fail with ECONNRESET */
  CRMPI_FD_UNKNOWN = 6, /* anything else (eventfd, epoll ...): placeholder + warning */
  CRMPI_FD_PATH = 7,    /* O_PATH */
  CRMPI_FD_STDIO = 8,   /* 0, 1, 2: provided by the restarting command */
  CRMPI_FD_DELETED = 9  /* regular file already unlinked (tmpfile()): contents saved */
};

struct crmpi_fd_record {
  int32_t fd;
  uint32_t kind;       /* enum crmpi_fd_kind */
  uint32_t open_flags; /* F_GETFL */
  uint32_t fd_flags;   /* F_GETFD (FD_CLOEXEC) */
  int64_t offset;
  uint64_t dev;
  uint64_t ino;
  uint64_t size;
  int64_t mtime_ns;
  uint64_t pipe_id;   /* inode of the pipe */
  uint32_t pipe_size; /* F_GETPIPE_SZ */
  uint32_t mode;
};

/* ------------------------------------------------------------ REGIONS
 * Payload: u32 count, then per region struct crmpi_region_record + string:
 * path or name.  Regions are sorted, disjoint and page-aligned. */
enum crmpi_region_kind {
  CRMPI_REG_ANON = 1,         /* private anonymous (heap, stacks, malloc arenas) */
  CRMPI_REG_FILE_PRIVATE = 2, /* private file mapping: file + modified pages */
  CRMPI_REG_FILE_SHARED = 3,  /* shared file mapping: the file holds the data */
  CRMPI_REG_SHARED_ANON = 4,  /* shared anonymous / memfd / deleted shm: pages saved */
  CRMPI_REG_SPECIAL = 5       /* [vdso], [vvar]...: moved, never saved */
};

struct crmpi_region_record {
  uint64_t start;
  uint64_t end;
  uint32_t prot;  /* PROT_* */
  uint32_t kind;  /* enum crmpi_region_kind */
  uint32_t flags; /* CRMPI_REG_GROWSDOWN | CRMPI_REG_HEAP | CRMPI_REG_STACK */
  uint32_t reserved;
  uint64_t file_offset;
  uint64_t dev;
  uint64_t ino;
  uint64_t file_size;
  int64_t mtime_ns;
  uint64_t saved_pages; /* pages stored in PAGES sections */
};
#define CRMPI_REG_GROWSDOWN 1u
#define CRMPI_REG_HEAP 2u
#define CRMPI_REG_STACK 4u

/* ------------------------------------------------------------ PAGES
 * Payload (before compression): struct crmpi_pages_chunk_header, struct
 * crmpi_page_run[nruns], zero padding up to data_offset, then the bytes of
 * every run, in order.  A stored (uncompressed) section is padded so that
 * its page bytes start at a file offset that is a multiple of the page
 * size, so that a restart can map them straight from the page cache; a
 * compressed one has no padding.  Runs are page-aligned, inside their
 * region, and no two runs of the image overlap. */
struct crmpi_pages_chunk_header {
  uint32_t region_index;
  uint32_t nruns;
  uint32_t data_offset; /* payload offset of the first page byte */
  uint32_t reserved;    /* zero */
};
struct crmpi_page_run {
  uint64_t addr;
  uint64_t npages;
};

/* ------------------------------------------------------------ END */
struct crmpi_end_record {
  uint32_t nsections;   /* sections before END */
  uint32_t reserved;    /* zero */
  uint64_t total_pages; /* sum of every PAGES run = sum of saved_pages */
};

/* ------------------------------------------------------------ layout pins */
#if defined(__cplusplus)
#define CRMPI_IMAGE_ASSERT(c, m) static_assert(c, m)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define CRMPI_IMAGE_ASSERT(c, m) _Static_assert(c, m)
#else /* C99: a negative array size fails to compile */
#define CRMPI_IMAGE_ASSERT_CAT2(a, b) a##b
#define CRMPI_IMAGE_ASSERT_CAT(a, b) CRMPI_IMAGE_ASSERT_CAT2(a, b)
#define CRMPI_IMAGE_ASSERT(c, m) \
  typedef char CRMPI_IMAGE_ASSERT_CAT(crmpi_image_assert_, __LINE__)[(c) ? 1 : -1]
#endif

CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_file_header) == 64, "file header");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_file_header, version) == 8, "file header");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_file_header, created_ns) == 24, "file header");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_file_header, image_id) == 40, "file header");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_file_header, checksum) == 56, "file header");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_section_header) == 64, "section header");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_section_header, image_id) == 16, "section header");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_section_header, payload_checksum) == 40,
                   "section header");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_section_header, header_checksum) == 56,
                   "section header");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_process_record) == 512, "process record");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_process_record, rlimits) == 72, "process record");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_process_record, mm) == 336, "process record");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_jmp_context) == 80, "jmp context");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_thread_record) == 368, "thread record");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_thread_record, ctx) == 24, "thread record");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_thread_record, gregs) == 176, "thread record");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_pending_signal) == 128, "pending signal");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_ksigaction) == 32, "sigaction");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_fd_record) == 72, "fd record");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_fd_record, pipe_id) == 56, "fd record");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_region_record) == 80, "region record");
CRMPI_IMAGE_ASSERT(offsetof(struct crmpi_region_record, saved_pages) == 72, "region record");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_pages_chunk_header) == 16, "pages header");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_page_run) == 16, "page run");
CRMPI_IMAGE_ASSERT(sizeof(struct crmpi_end_record) == 16, "end record");

#endif /* CRMPI_IMAGE_H */
