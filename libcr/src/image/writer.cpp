// writer.cpp -- see writer.h.  No allocation, no exceptions, no stdio.
#include "writer.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

namespace crimg {
namespace {

// A random, non-zero image id.  getrandom() neither allocates nor blocks
// with GRND_NONBLOCK; if it fails (early boot, a seccomp filter), the time,
// the PID and the cycle counter are mixed instead: the id only has to differ
// between images, it protects against mix-ups, not against an attacker.
uint64_t new_image_id(uint64_t created_ns, uint32_t pid) {
  uint64_t id = 0;
  if (getrandom(&id, sizeof id, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof id)) {
    const uint64_t mix[3] = {created_ns, pid, __builtin_ia32_rdtsc()};
    id = XXH3_64bits(mix, sizeof mix);
  }
  return id ? id : 1;
}

const char kZeros[4096] = {};

}  // namespace

int Scratch::init(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return -errno;
  base_ = static_cast<char*>(p);
  size_ = bytes;
  used_ = 0;
  return 0;
}

void Scratch::release() {
  if (base_) munmap(base_, size_);
  base_ = nullptr;
  size_ = used_ = 0;
}

void* Scratch::alloc(size_t bytes, size_t align) {
  size_t off = (used_ + align - 1) & ~(align - 1);
  if (off + bytes > size_) return nullptr;
  used_ = off + bytes;
  return base_ + off;
}

void Encoder::put(const void* p, size_t n) {
  if (overflow_ || len_ + n > cap_) {
    overflow_ = true;
    return;
  }
  memcpy(buf_ + len_, p, n);
  len_ += n;
}

char* Encoder::reserve(size_t n) {
  if (overflow_ || len_ + n > cap_) {
    overflow_ = true;
    return nullptr;
  }
  char* p = buf_ + len_;
  len_ += n;
  return p;
}

void Encoder::str(const char* s, size_t n) {
  uint32_t len = static_cast<uint32_t>(n);
  pod(len);
  put(s, n);
}

void Encoder::str(const char* s) {
  str(s, s ? strlen(s) : 0);
}

int ImageWriter::write_all(const struct iovec* iov_in, int iovcnt) {
  // writev may write partially; walk a local copy of the vector.
  struct iovec local[64];
  while (iovcnt > 0) {
    int n = iovcnt < 64 ? iovcnt : 64;
    memcpy(local, iov_in, n * sizeof(struct iovec));
    int first = 0;
    while (first < n) {
      ssize_t w = writev(fd_, local + first, n - first);
      if (w < 0) {
        if (errno == EINTR) continue;
        return -errno;
      }
      if (w == 0) return -EIO;
      offset_ += static_cast<uint64_t>(w);
      while (first < n && static_cast<size_t>(w) >= local[first].iov_len) {
        w -= static_cast<ssize_t>(local[first].iov_len);
        ++first;
      }
      if (first < n) {
        local[first].iov_base = static_cast<char*>(local[first].iov_base) + w;
        local[first].iov_len -= static_cast<size_t>(w);
      }
    }
    iov_in += n;
    iovcnt -= n;
  }
  return 0;
}

int ImageWriter::begin(int fd, Scratch* scratch, uint32_t pid, int compress_level) {
  fd_ = fd;
  scratch_ = scratch;
  level_ = compress_level;
  bounce_ = nullptr;
  nsections_ = 0;
  offset_ = 0;
  total_pages_ = 0;
  if (level_ > 0) {
    size_t wsize = ZSTD_estimateCStreamSize(level_);
    void* ws = scratch_->alloc(wsize);
    zcap_ = ZSTD_compressBound(kMaxPagesChunk);
    zbuf_ = scratch_->alloc(zcap_);
    if (!ws || !zbuf_) return -ENOMEM;
    cctx_ = ZSTD_initStaticCCtx(ws, wsize);
    if (!cctx_) return -ENOMEM;
  }
  FileHeader h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, kMagic, sizeof h.magic);
  h.version = kVersion;
  h.arch = kArchX86_64;
  h.page_size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  h.flags = level_ > 0 ? kImageCompressed : 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  h.created_ns = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  h.pid = pid;
  h.image_id = image_id_ = new_image_id(h.created_ns, pid);
  h.checksum = checksum(&h, offsetof(FileHeader, checksum));
  digest_ = digest_start(h.checksum);
  struct iovec iov = {&h, sizeof h};
  return write_all(&iov, 1);
}

int ImageWriter::section_header(uint32_t type, uint32_t flags, uint64_t raw, uint64_t stored,
                                uint64_t payload_checksum) {
  SectionHeader sh;
  memset(&sh, 0, sizeof sh);
  sh.magic = kSectionMagic;
  sh.type = type;
  sh.flags = flags;
  sh.index = nsections_++;
  sh.image_id = image_id_;
  sh.raw_size = raw;
  sh.stored_size = stored;
  sh.payload_checksum = payload_checksum;
  sh.header_checksum = checksum(&sh, offsetof(SectionHeader, header_checksum));
  digest_ = digest_step(digest_, sh.header_checksum);
  struct iovec h = {&sh, sizeof sh};
  return write_all(&h, 1);
}

int ImageWriter::emit(uint32_t type, uint32_t flags, uint64_t raw, const struct iovec* iov,
                      int iovcnt, uint64_t payload_checksum) {
  uint64_t stored = 0;
  for (int i = 0; i < iovcnt; ++i) stored += iov[i].iov_len;
  int rc = section_header(type, flags, raw, stored, payload_checksum);
  return rc ? rc : write_all(iov, iovcnt);
}

int ImageWriter::metadata(uint32_t type, const void* payload, size_t n) {
  struct iovec iov = {const_cast<void*>(payload), n};
  return emit(type, 0, n, &iov, 1, checksum(payload, n));
}

// Copies the bytes of @runs into @dst, hashing each piece right after
// copying it (while it is in cache) when @st is given.
static void copy_runs(char* dst, const PageRun* runs, uint32_t nruns, size_t page,
                      XXH3_state_t* st) {
  constexpr size_t kPiece = 64 << 10;
  for (uint32_t i = 0; i < nruns; ++i) {
    const char* src = reinterpret_cast<const char*>(runs[i].addr);
    for (size_t left = runs[i].npages * page; left;) {
      const size_t n = left < kPiece ? left : kPiece;
      memcpy(dst, src, n);
      if (st) XXH3_64bits_update(st, dst, n);
      dst += n;
      src += n;
      left -= n;
    }
  }
}

// The bytes hashed are the bytes written: every page is first copied into
// the bounce buffer, and only the copy is hashed, compressed and written.
// Memory may change under the writer (another process writing shared
// memory, the kernel updating a thread's rseq area, the writer's own stack
// and libcr's data), but the image always checks.
int ImageWriter::pages(uint32_t region, const PageRun* runs, uint32_t nruns) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  uint64_t data_bytes = 0;
  for (uint32_t i = 0; i < nruns; ++i) data_bytes += runs[i].npages * page;
  const uint64_t head = sizeof(PagesChunkHeader) + uint64_t{nruns} * sizeof(PageRun);
  // A stored section is padded so that its page bytes start at a page-aligned
  // file offset (offset_ is the file position: the image fd starts empty).
  uint64_t pad = 0;
  if (level_ == 0) pad = (page - (offset_ + sizeof(SectionHeader) + head) % page) % page;
  if (head + pad > UINT32_MAX) return -EINVAL;
  PagesChunkHeader ch = {region, nruns, static_cast<uint32_t>(head + pad), 0};
  const uint64_t raw = head + pad + data_bytes;
  if (!bounce_) bounce_ = static_cast<char*>(scratch_->alloc(kMaxPagesChunk, page));
  if (!bounce_ || data_bytes > kMaxPagesChunk) return -ENOMEM;
  total_pages_ += data_bytes / page;

  if (level_ > 0) {
    // Compress the whole payload as one zstd frame into the scratch buffer.
    copy_runs(bounce_, runs, nruns, page, nullptr);
    ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_only);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level_);
    ZSTD_outBuffer out = {zbuf_, zcap_, 0};
    auto feed = [&](const void* p, size_t n, ZSTD_EndDirective mode) -> int {
      ZSTD_inBuffer in = {p, n, 0};
      for (;;) {
        size_t r = ZSTD_compressStream2(cctx_, &out, &in, mode);
        if (ZSTD_isError(r)) return -EIO;
        if (mode == ZSTD_e_end ? r == 0 : in.pos == in.size) return 0;
        if (out.pos == out.size) return -EOVERFLOW;
      }
    };
    int rc = feed(&ch, sizeof ch, ZSTD_e_continue);
    if (!rc) rc = feed(runs, nruns * sizeof(PageRun), ZSTD_e_continue);
    if (!rc) rc = feed(bounce_, data_bytes, ZSTD_e_continue);
    if (!rc) rc = feed(nullptr, 0, ZSTD_e_end);
    if (rc) return rc;
    struct iovec iov = {zbuf_, out.pos};
    return emit(kSecPages, kSectionZstd, raw, &iov, 1, checksum(zbuf_, out.pos));
  }

  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  XXH3_64bits_update(&st, &ch, sizeof ch);
  XXH3_64bits_update(&st, runs, nruns * sizeof(PageRun));
  XXH3_64bits_update(&st, kZeros, pad);
  copy_runs(bounce_, runs, nruns, page, &st);
  struct iovec iov[4] = {{&ch, sizeof ch},
                         {const_cast<PageRun*>(runs), nruns * sizeof(PageRun)},
                         {const_cast<char*>(kZeros), pad},
                         {bounce_, data_bytes}};
  return emit(kSecPages, 0, raw, iov, 4, XXH3_64bits_digest(&st));
}

int ImageWriter::end() {
  EndRecord e;
  memset(&e, 0, sizeof e);
  e.nsections = nsections_;
  e.total_pages = total_pages_;
  return metadata(kSecEnd, &e, sizeof e);
}

}  // namespace crimg
