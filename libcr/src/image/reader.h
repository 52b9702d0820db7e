// reader.h -- opens, validates and loads a process image (tools side).
//
// Validation is in two parts that together are everything a reader checks:
//
//   open()          the header, every metadata section (checksum, records,
//                   no trailing bytes), the section order, the image id of
//                   every section, the run list of every PAGES section, and
//                   every cross-check between them (validate.cpp): counts,
//                   totals, runs inside their regions and not overlapping...
//   load_chunk()    one PAGES section's data: checksum, decompression, size.
//                   verify_pages() runs it on every section without keeping
//                   the bytes; cr_restart runs it while loading, before its
//                   point of no return.
//
// So cr_info (open + verify_pages) calls an image good exactly when
// cr_restart's reading of it would succeed.  Any problem throws ImageError,
// whose message names the file, the section and the problem.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "format.h"

struct ZSTD_DCtx_s;

namespace crimg {

class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ProcessInfo {
  ProcessRecord rec{};
  std::string cwd, exe;
  std::vector<std::string> argv;
};

struct ThreadInfo {
  ThreadRecord rec{};
  std::vector<uint8_t> xstate;
  std::vector<PendingSignal> pending;
};

struct FdInfo {
  FdRecord rec{};
  std::string path;
  std::string data;  // pipe contents
};

struct RegionInfo {
  RegionRecord rec{};
  std::string path;  // file path, or a name such as [heap] / [vdso]
};

struct ChunkRef {
  SectionHeader hdr{};
  uint64_t payload_offset = 0;  // file offset of the stored payload
  PagesChunkHeader head{};      // read and checked by open()
  std::vector<PageRun> runs;    // idem
};

class Image {
 public:
  // Throws ImageError for a missing, unreadable, corrupt, truncated,
  // inconsistent or wrong-version file.  Never blocks (a FIFO is refused).
  static Image open(const std::string& path);
  Image(Image&&) noexcept;
  Image& operator=(Image&&) noexcept;
  ~Image();

  // The open image file (for fstat: who owns it).  Owned by the Image.
  int fd() const { return fd_; }

  // Runs load_chunk() on every PAGES section, keeping nothing.
  void verify_pages() const;

  // Loads one PAGES section: for every run, @dest(addr, bytes) returns where
  // the bytes go, or nullptr to only verify them.  Checks the checksum, that
  // the section decompresses to exactly its runs, and that its run list is
  // still the one open() checked; throws on any mismatch (the data may
  // already have been written to the destinations).
  void load_chunk(const ChunkRef& c,
                  const std::function<char*(uint64_t addr, uint64_t len)>& dest) const;

  std::string path;
  uint64_t file_size = 0;
  FileHeader header{};
  ProcessInfo process;
  std::vector<ThreadInfo> threads;
  std::vector<KSigaction> sigactions;  // [i] is signal i+1
  std::vector<FdInfo> fds;
  std::vector<RegionInfo> regions;
  std::vector<ChunkRef> chunks;
  std::vector<SectionHeader> sections;  // all, in file order
  EndRecord end{};
  uint64_t digest = 0;  // the image digest (crmpi/image.h)

 private:
  Image() = default;
  [[noreturn]] void fail(const std::string& what) const;
  // fail("corrupt image: section I (TYPE): " + what)
  [[noreturn]] void fail_in(const SectionHeader& h, const std::string& what) const;
  void read_exact(uint64_t off, void* buf, size_t n, const char* what) const;
  void check_section_header(const SectionHeader& sh, uint64_t off) const;
  std::string read_stored(const SectionHeader& h, uint64_t off) const;  // checksummed
  void parse(const SectionHeader& h, const std::string& payload);
  void read_chunk_head(ChunkRef& c) const;
  ZSTD_DCtx_s* dctx() const;
  void load_stored(const ChunkRef& c, const std::function<char*(uint64_t, uint64_t)>& dest) const;
  void load_zstd(const ChunkRef& c, const std::function<char*(uint64_t, uint64_t)>& dest) const;
  // validate.cpp: every cross-check between sections, after the END.
  void validate() const;
  void validate_threads() const;
  void validate_fds() const;
  void validate_regions() const;
  void validate_pages() const;
  int fd_ = -1;
  struct DctxFree {
    void operator()(ZSTD_DCtx_s* d) const;
  };
  mutable std::vector<char> zbuf_;
  mutable std::vector<char> sink_;  // where verified-only page bytes go
  mutable std::unique_ptr<ZSTD_DCtx_s, DctxFree> dctx_;
};

}  // namespace crimg
