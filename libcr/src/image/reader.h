// reader.h -- opens, validates and loads a process image (tools side).
//
// Image::open() reads the header and every metadata section, checking each
// checksum, and indexes the PAGES sections without reading them.  Page data
// is checked when it is loaded (load_chunk) or by verify_pages().  Any
// problem throws ImageError, whose message names the file and the problem.
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
};

class Image {
 public:
  // Throws ImageError for a missing, unreadable, corrupt, truncated or
  // wrong-version file.
  static Image open(const std::string& path);
  Image(Image&&) noexcept;
  Image& operator=(Image&&) noexcept;
  ~Image();

  // The open image file (for fstat: who owns it).  Owned by the Image.
  int fd() const { return fd_; }

  // Checks every PAGES section's checksum (and that it decompresses).
  void verify_pages() const;

  // Loads one PAGES section: for every run, @dest(addr, bytes) returns where
  // the bytes go.  Verifies the checksum; throws on mismatch (the data may
  // already have been written to the destinations).
  void load_chunk(const ChunkRef& c,
                  const std::function<char*(uint64_t addr, uint64_t len)>& dest) const;
  // Reads only the run list of a PAGES section (for cr_info and planning).
  std::vector<PageRun> chunk_runs(const ChunkRef& c, uint32_t* region) const;

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

 private:
  Image() = default;
  [[noreturn]] void fail(const std::string& what) const;
  void read_exact(uint64_t off, void* buf, size_t n, const char* what) const;
  std::string read_payload(const SectionHeader& h, uint64_t off) const;
  void parse(const SectionHeader& h, const std::string& payload);
  int fd_ = -1;
  struct DctxFree {
    void operator()(ZSTD_DCtx_s* d) const;
  };
  mutable std::vector<char> zbuf_;
  mutable std::unique_ptr<ZSTD_DCtx_s, DctxFree> dctx_;
};

}  // namespace crimg
