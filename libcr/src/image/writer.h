// writer.h -- streams a process image to a file descriptor.
//
// Used inside the checkpointing process while every other thread is stopped,
// so it never allocates: all buffers come from the caller (a Scratch arena
// mapped before the freeze and excluded from the image).  Errors are
// returned as negative errno values; nothing throws.
#pragma once

#include <sys/uio.h>
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <cstddef>
#include <cstdint>

#include "format.h"

namespace crimg {

// Bump allocator over one private mapping, for code that must not malloc.
class Scratch {
 public:
  int init(size_t bytes);  // mmap NORESERVE; 0 or -errno
  void release();
  void* alloc(size_t bytes, size_t align = 64);  // nullptr when full
  void reset() { used_ = 0; }
  uintptr_t begin() const { return reinterpret_cast<uintptr_t>(base_); }
  uintptr_t end() const { return begin() + size_; }

 private:
  char* base_ = nullptr;
  size_t size_ = 0;
  size_t used_ = 0;
};

// Appends typed values to a fixed buffer; records overflow instead of failing.
class Encoder {
 public:
  Encoder(void* buf, size_t cap) : buf_(static_cast<char*>(buf)), cap_(cap) {}
  void put(const void* p, size_t n);
  template <typename T>
  void pod(const T& v) {
    put(&v, sizeof v);
  }
  void str(const char* s, size_t n);  // u32 length + bytes
  void str(const char* s);
  char* reserve(size_t n);  // n bytes to fill in place; nullptr on overflow
  bool overflow() const { return overflow_; }
  size_t size() const { return len_; }
  size_t room() const { return overflow_ ? 0 : cap_ - len_; }
  const char* data() const { return buf_; }
  char* at(size_t off) { return buf_ + off; }

 private:
  char* buf_;
  size_t cap_;
  size_t len_ = 0;
  bool overflow_ = false;
};

class ImageWriter {
 public:
  // @compress: zstd level for PAGES sections, 0 = store.
  int begin(int fd, Scratch* scratch, uint32_t pid, int compress_level);
  int metadata(uint32_t type, const void* payload, size_t n);
  // One PAGES section: @runs in address order inside region @region, read
  // from this process's memory.  The pages are copied to a scratch buffer
  // first and only the copy is hashed and written, so the section checks
  // even if the memory changes meanwhile.
  int pages(uint32_t region, const PageRun* runs, uint32_t nruns);
  int end();
  uint64_t bytes() const { return offset_; }
  uint64_t image_id() const { return image_id_; }
  // The image digest (crmpi/image.h) of what was written so far: the
  // whole image's once end() returned 0.
  uint64_t digest() const { return digest_; }

 private:
  int write_all(const struct iovec* iov, int iovcnt);
  int section_header(uint32_t type, uint32_t flags, uint64_t raw, uint64_t stored,
                     uint64_t payload_checksum);
  int emit(uint32_t type, uint32_t flags, uint64_t raw, const struct iovec* iov, int iovcnt,
           uint64_t payload_checksum);
  int fd_ = -1;
  Scratch* scratch_ = nullptr;
  int level_ = 0;
  uint32_t nsections_ = 0;
  uint64_t image_id_ = 0;
  uint64_t digest_ = 0;
  uint64_t offset_ = 0;
  uint64_t total_pages_ = 0;
  ZSTD_CCtx* cctx_ = nullptr;
  void* zbuf_ = nullptr;
  size_t zcap_ = 0;
  char* bounce_ = nullptr;
};

}  // namespace crimg
