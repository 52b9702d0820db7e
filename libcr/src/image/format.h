// format.h -- the on-disk layout of a libcr process image (version 2).
//
// Documented for users in docs/formats.md; this header is the reference.
// Everything is little-endian x86-64, fixed-size PODs, no padding surprises
// (static_asserts below).  An image is:
//
//   FileHeader (64 bytes)
//   Section*   each: SectionHeader (64 bytes) + payload (stored_size bytes)
//   an END section, whose payload repeats the count of sections before it
//
// Section order (required): PROCESS, THREADS, SIGNALS, FDS, PAGES...,
// REGIONS, END.  Every header and every payload has its own XXH3-64
// checksum, so a flipped byte anywhere is detected and named; a missing END
// means truncation.  Every section header repeats the file's random image
// id, so a section taken from another image is refused.
#pragma once

#include <cstddef>
#include <cstdint>

namespace crimg {

inline constexpr char kMagic[8] = {'C', 'R', 'M', 'P', 'I', 'I', 'M', 'G'};
inline constexpr uint32_t kVersion = 2;
inline constexpr uint32_t kArchX86_64 = 62;            // ELF EM_X86_64
inline constexpr uint32_t kSectionMagic = 0x54434553;  // "SECT"

// Hard limits a reader enforces before trusting any size field.
inline constexpr uint64_t kMaxMetadataSection = 256ull << 20;
inline constexpr uint64_t kMaxPagesChunk = 64ull << 20;  // raw payload
inline constexpr uint32_t kMaxThreads = 4096;
inline constexpr uint32_t kMaxRegions = 1u << 20;
inline constexpr uint32_t kMaxFds = 1u << 20;     // records, and fd numbers
inline constexpr uint32_t kNumSignals = 64;        // SIGNALS holds 1..64
// Highest user address with 4-level paging; only [vsyscall] lies above.
inline constexpr uint64_t kUserAddrTop = 0x7ffffffff000ull;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t arch;
  uint32_t page_size;
  uint32_t flags;       // kImageCompressed if any PAGES section is zstd
  uint64_t created_ns;  // CLOCK_REALTIME
  uint32_t pid;
  uint32_t reserved0;  // zero
  uint64_t image_id;   // random, never 0; repeated in every SectionHeader
  uint64_t reserved1;  // zero
  uint64_t checksum;   // XXH3-64 of the 56 bytes before it
};
static_assert(sizeof(FileHeader) == 64);
static_assert(offsetof(FileHeader, image_id) == 40 && offsetof(FileHeader, checksum) == 56);
inline constexpr uint32_t kImageCompressed = 1;

enum SectionType : uint32_t {
  kSecProcess = 1,
  kSecThreads = 2,
  kSecSignals = 3,
  kSecFds = 4,
  kSecRegions = 5,
  kSecPages = 6,
  kSecEnd = 0x7fff,
};
const char* section_name(uint32_t type);

struct SectionHeader {
  uint32_t magic;             // kSectionMagic
  uint32_t type;              // SectionType
  uint32_t flags;             // kSectionZstd
  uint32_t index;             // 0, 1, 2 ... in file order
  uint64_t image_id;          // FileHeader::image_id of the image it belongs to
  uint64_t raw_size;          // payload size once decompressed
  uint64_t stored_size;       // payload bytes that follow in the file
  uint64_t payload_checksum;  // XXH3-64 of the stored payload
  uint64_t reserved;          // zero
  uint64_t header_checksum;   // XXH3-64 of the 56 bytes before it
};
static_assert(sizeof(SectionHeader) == 64);
static_assert(offsetof(SectionHeader, image_id) == 16 &&
              offsetof(SectionHeader, header_checksum) == 56);
inline constexpr uint32_t kSectionZstd = 1;

// ---------------------------------------------------------------- PROCESS
// Payload: ProcessRecord, then strings (u32 length + bytes): cwd, exe, cmdline
// (NUL-separated arguments).
inline constexpr int kNumRlimits = 16;
struct ProcessRecord {
  uint32_t pid;
  uint32_t ppid;
  uint32_t uid;
  uint32_t gid;
  uint32_t umask;
  uint32_t nthreads;
  uint32_t main_tid;      // thread restored onto the restarting process's leader
  uint32_t rseq_size;     // glibc __rseq_size (0: rseq not registered)
  int64_t rseq_offset;    // glibc __rseq_offset: thread pointer -> rseq area
  int64_t tid_offset;     // thread pointer -> glibc's struct pthread::tid
  uint64_t mailbox_addr;  // libcr's restore mailbox (see restore_mailbox.h)
  uint64_t brk_start;
  uint64_t brk_current;
  uint64_t rlimits[kNumRlimits][2];  // cur, max
  uint32_t cr_signal;                // the signal libcr stops threads with
  uint32_t reserved;
  // The kernel's view of the address space (/proc/PID/stat fields 26-28,
  // 45-51): start_code, end_code, start_stack, start_data, end_data,
  // start_brk, arg_start, arg_end, env_start, env_end.
  uint64_t mm[10];
  // Interval timers ITIMER_REAL, _VIRTUAL, _PROF: interval and value, each
  // as seconds and microseconds.
  uint64_t itimers[3][4];
};
static_assert(sizeof(ProcessRecord) == 512);

// ---------------------------------------------------------------- THREADS
// Payload: u32 count, then per thread ThreadRecord + xstate bytes
// (xstate_size) + PendingSignal[npending].
struct JmpContext {  // callee-saved state where the thread stopped inside libcr
  uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
  uint32_t mxcsr;
  uint16_t fpucw;
  uint16_t pad[3];
};
static_assert(sizeof(JmpContext) == 80);

struct ThreadRecord {
  uint32_t tid;
  uint32_t flags;  // kThreadMain | kThreadManager
  uint64_t fs_base;
  uint64_t gs_base;
  JmpContext ctx;
  uint64_t handler_sigmask;  // mask inside libcr's handler (restored first)
  uint64_t app_sigmask;      // the interrupted context's mask (for cr_info)
  uint64_t altstack_sp;
  uint64_t altstack_size;
  int32_t altstack_flags;
  uint32_t npending;
  uint64_t robust_head;
  uint64_t robust_len;
  uint64_t rseq_area;
  uint32_t rseq_len;
  uint32_t rseq_sig;
  uint64_t gregs[23];    // interrupted context (ucontext gregs), for cr_info
  uint32_t xstate_size;  // bytes of interrupted FPU/xstate that follow
  uint32_t reserved;
};
static_assert(sizeof(ThreadRecord) == 368);
inline constexpr uint32_t kThreadMain = 1;
inline constexpr uint32_t kThreadManager = 2;

struct PendingSignal {
  uint8_t siginfo[128];  // siginfo_t as dequeued; requeued on resume
};

// ---------------------------------------------------------------- SIGNALS
// Payload: u32 count, then KSigaction[count] for signals 1..count.
struct KSigaction {  // the kernel's struct sigaction (rt_sigaction)
  uint64_t handler;
  uint64_t flags;
  uint64_t restorer;
  uint64_t mask;
};
static_assert(sizeof(KSigaction) == 32);

// ---------------------------------------------------------------- FDS
// Payload: u32 count, then per fd FdRecord + strings: path, data (pipe bytes).
enum FdKind : uint32_t {
  kFdFile = 1,     // regular file: reopened by path at offset
  kFdDir = 2,      // directory
  kFdDevice = 3,   // character device (/dev/null ...): reopened by path
  kFdPipe = 4,     // pipe; both ends share pipe_id; data restored
  kFdSocket = 5,   // placeholder: calls fail with ECONNRESET
  kFdUnknown = 6,  // anything else (eventfd, epoll ...): placeholder + warning
  kFdPath = 7,     // O_PATH
  kFdStdio = 8,    // 0, 1, 2: provided by the restarting command
  kFdDeleted = 9,  // regular file already unlinked (tmpfile()): contents saved
};
inline constexpr uint64_t kMaxDeletedFileBytes = 64ull << 20;
const char* fd_kind_name(uint32_t kind);

struct FdRecord {
  int32_t fd;
  uint32_t kind;
  uint32_t open_flags;  // F_GETFL
  uint32_t fd_flags;    // F_GETFD (FD_CLOEXEC)
  int64_t offset;
  uint64_t dev;
  uint64_t ino;
  uint64_t size;
  int64_t mtime_ns;
  uint64_t pipe_id;    // inode of the pipe
  uint32_t pipe_size;  // F_GETPIPE_SZ
  uint32_t mode;
};
static_assert(sizeof(FdRecord) == 72);

// ---------------------------------------------------------------- REGIONS
// Payload: u32 count, then per region RegionRecord + string: path or name.
enum RegionKind : uint32_t {
  kRegAnon = 1,         // private anonymous (heap, stacks, malloc arenas)
  kRegFilePrivate = 2,  // private file mapping: file + modified pages
  kRegFileShared = 3,   // shared file mapping: the file holds the data
  kRegSharedAnon = 4,   // shared anonymous / memfd / deleted shm: pages saved
  kRegSpecial = 5,      // [vdso], [vvar]...: moved, never saved
};
const char* region_kind_name(uint32_t kind);

struct RegionRecord {
  uint64_t start;
  uint64_t end;
  uint32_t prot;   // PROT_*
  uint32_t kind;   // RegionKind
  uint32_t flags;  // kRegGrowsDown | kRegHeap | kRegStack
  uint32_t reserved;
  uint64_t file_offset;
  uint64_t dev;
  uint64_t ino;
  uint64_t file_size;
  int64_t mtime_ns;
  uint64_t saved_pages;  // pages stored in PAGES sections
};
static_assert(sizeof(RegionRecord) == 80);
inline constexpr uint32_t kRegGrowsDown = 1;
inline constexpr uint32_t kRegHeap = 2;
inline constexpr uint32_t kRegStack = 4;

// ---------------------------------------------------------------- PAGES
// Payload (before compression): PagesChunkHeader, PageRun[nruns], zero
// padding up to data_offset, then the bytes of every run, in order.  A
// stored (uncompressed) section is padded so that its page bytes start at a
// file offset that is a multiple of the page size; a compressed one has no
// padding.  Runs are page-aligned, inside their region, and no two runs of
// the image overlap.
struct PagesChunkHeader {
  uint32_t region_index;
  uint32_t nruns;
  uint32_t data_offset;  // payload offset of the first page byte
  uint32_t reserved;     // zero
};
static_assert(sizeof(PagesChunkHeader) == 16);
struct PageRun {
  uint64_t addr;
  uint64_t npages;
};
static_assert(sizeof(PageRun) == 16);

// ---------------------------------------------------------------- END
struct EndRecord {
  uint32_t nsections;  // sections before END
  uint32_t reserved;   // zero
  uint64_t total_pages;  // sum of every PAGES run = sum of saved_pages
};
static_assert(sizeof(EndRecord) == 16);

// Checksum used everywhere (XXH3-64, seed 0).
uint64_t checksum(const void* data, size_t len);

}  // namespace crimg
