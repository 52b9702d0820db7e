// format.h -- the C++ view of the image format.
//
// The format itself is include/crmpi/image.h (C99, shared with a kernel
// module and every other reader or writer): this header gives its records
// and constants the names libcr's C++ code uses, and declares the helpers
// that go with them.  Nothing about the layout is defined here.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crmpi/image.h"

namespace crimg {

inline constexpr char kMagic[8] = {'C', 'R', 'M', 'P', 'I', 'I', 'M', 'G'};
static_assert(sizeof(CRMPI_IMAGE_MAGIC) == sizeof(kMagic) + 1);
inline constexpr uint32_t kVersion = CRMPI_IMAGE_VERSION;
inline constexpr uint32_t kArchX86_64 = CRMPI_ARCH_X86_64;
inline constexpr uint32_t kSectionMagic = CRMPI_SECTION_MAGIC;

inline constexpr uint64_t kMaxMetadataSection = CRMPI_MAX_METADATA_SECTION;
inline constexpr uint64_t kMaxPagesChunk = CRMPI_MAX_PAGES_CHUNK;
inline constexpr uint32_t kMaxThreads = CRMPI_MAX_THREADS;
inline constexpr uint32_t kMaxRegions = CRMPI_MAX_REGIONS;
inline constexpr uint32_t kMaxFds = CRMPI_MAX_FDS;
inline constexpr uint32_t kNumSignals = CRMPI_NUM_SIGNALS;
inline constexpr uint64_t kUserAddrTop = CRMPI_USER_ADDR_TOP;
inline constexpr uint64_t kMaxDeletedFileBytes = CRMPI_MAX_DELETED_FILE_BYTES;
inline constexpr int kNumRlimits = CRMPI_NUM_RLIMITS;

using FileHeader = crmpi_file_header;
using SectionHeader = crmpi_section_header;
using ProcessRecord = crmpi_process_record;
using JmpContext = crmpi_jmp_context;
using ThreadRecord = crmpi_thread_record;
using PendingSignal = crmpi_pending_signal;
using KSigaction = crmpi_ksigaction;
using FdRecord = crmpi_fd_record;
using RegionRecord = crmpi_region_record;
using PagesChunkHeader = crmpi_pages_chunk_header;
using PageRun = crmpi_page_run;
using EndRecord = crmpi_end_record;

inline constexpr uint32_t kImageCompressed = CRMPI_IMAGE_COMPRESSED;
inline constexpr uint32_t kSectionZstd = CRMPI_SECTION_ZSTD;
inline constexpr uint32_t kThreadMain = CRMPI_THREAD_MAIN;
inline constexpr uint32_t kThreadManager = CRMPI_THREAD_MANAGER;
inline constexpr uint32_t kRegGrowsDown = CRMPI_REG_GROWSDOWN;
inline constexpr uint32_t kRegHeap = CRMPI_REG_HEAP;
inline constexpr uint32_t kRegStack = CRMPI_REG_STACK;

enum SectionType : uint32_t {
  kSecProcess = CRMPI_SEC_PROCESS,
  kSecThreads = CRMPI_SEC_THREADS,
  kSecSignals = CRMPI_SEC_SIGNALS,
  kSecFds = CRMPI_SEC_FDS,
  kSecRegions = CRMPI_SEC_REGIONS,
  kSecPages = CRMPI_SEC_PAGES,
  kSecEnd = CRMPI_SEC_END,
};
const char* section_name(uint32_t type);

enum FdKind : uint32_t {
  kFdFile = CRMPI_FD_FILE,
  kFdDir = CRMPI_FD_DIR,
  kFdDevice = CRMPI_FD_DEVICE,
  kFdPipe = CRMPI_FD_PIPE,
  kFdSocket = CRMPI_FD_SOCKET,
  kFdUnknown = CRMPI_FD_UNKNOWN,
  kFdPath = CRMPI_FD_PATH,
  kFdStdio = CRMPI_FD_STDIO,
  kFdDeleted = CRMPI_FD_DELETED,
};
const char* fd_kind_name(uint32_t kind);

enum RegionKind : uint32_t {
  kRegAnon = CRMPI_REG_ANON,
  kRegFilePrivate = CRMPI_REG_FILE_PRIVATE,
  kRegFileShared = CRMPI_REG_FILE_SHARED,
  kRegSharedAnon = CRMPI_REG_SHARED_ANON,
  kRegSpecial = CRMPI_REG_SPECIAL,
};
const char* region_kind_name(uint32_t kind);

// Checksum used everywhere (XXH3-64, seed 0).
uint64_t checksum(const void* data, size_t len);
// The image digest (crmpi/image.h): digest_start(file header checksum),
// then digest_step(d, header_checksum) for each section in order.
uint64_t digest_start(uint64_t file_header_checksum);
uint64_t digest_step(uint64_t d, uint64_t section_header_checksum);

}  // namespace crimg
