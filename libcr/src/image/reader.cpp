// reader.cpp -- see reader.h.  The cross-checks between sections are in
// validate.cpp.
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <memory>

namespace crimg {
namespace {

std::string sec_name(const SectionHeader& h) {
  return "section " + std::to_string(h.index) + " (" + section_name(h.type) + ")";
}

// Bounds-checked cursor over a metadata payload.
class Decoder {
 public:
  Decoder(const std::string& s, const Image& img, const SectionHeader& h)
      : p_(s.data()), n_(s.size()), img_(img), where_(sec_name(h)) {}
  template <typename T>
  T pod() {
    T v;
    take(&v, sizeof v);
    return v;
  }
  void take(void* out, size_t n) {
    if (n > n_ - off_) short_section();
    if (n) memcpy(out, p_ + off_, n);
    off_ += n;
  }
  std::string str() {
    uint32_t len = pod<uint32_t>();
    if (len > n_ - off_) short_section();
    std::string s(p_ + off_, len);
    off_ += len;
    return s;
  }
  uint32_t count(uint32_t max) {
    uint32_t c = pod<uint32_t>();
    if (c > max) {
      fail("claims " + std::to_string(c) + " records (limit " + std::to_string(max) + ")");
    }
    return c;
  }
  // Every byte of a metadata payload belongs to a record.
  void done() const {
    if (off_ != n_) fail(std::to_string(n_ - off_) + " bytes after its records");
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw ImageError(img_.path + ": corrupt image: " + where_ + ": " + what);
  }

 private:
  [[noreturn]] void short_section() const { fail("shorter than its records"); }
  const char* p_;
  size_t n_;
  size_t off_ = 0;
  const Image& img_;
  std::string where_;
};

// The only order a writer produces; anything else is refused.
bool may_follow(uint32_t prev, uint32_t type) {
  switch (prev) {
    case 0:
      return type == kSecProcess;
    case kSecProcess:
      return type == kSecThreads;
    case kSecThreads:
      return type == kSecSignals;
    case kSecSignals:
      return type == kSecFds;
    case kSecFds:
    case kSecPages:
      return type == kSecPages || type == kSecRegions;
    case kSecRegions:
      return type == kSecEnd;
    default:
      return false;
  }
}

const char* expected_after(uint32_t prev) {
  switch (prev) {
    case 0:
      return "PROCESS";
    case kSecProcess:
      return "THREADS";
    case kSecThreads:
      return "SIGNALS";
    case kSecSignals:
      return "FDS";
    case kSecFds:
    case kSecPages:
      return "PAGES or REGIONS";
    default:
      return "END";
  }
}

}  // namespace

void Image::DctxFree::operator()(ZSTD_DCtx_s* d) const {
  ZSTD_freeDCtx(d);
}

Image::Image(Image&& o) noexcept {
  *this = std::move(o);
}
Image& Image::operator=(Image&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    path = std::move(o.path);
    file_size = o.file_size;
    header = o.header;
    process = std::move(o.process);
    threads = std::move(o.threads);
    sigactions = std::move(o.sigactions);
    fds = std::move(o.fds);
    regions = std::move(o.regions);
    chunks = std::move(o.chunks);
    sections = std::move(o.sections);
    end = o.end;
    digest = o.digest;
    fd_ = o.fd_;
    o.fd_ = -1;
    zbuf_ = std::move(o.zbuf_);
    sink_ = std::move(o.sink_);
    dctx_ = std::move(o.dctx_);
  }
  return *this;
}
Image::~Image() {
  if (fd_ >= 0) close(fd_);
}

void Image::fail(const std::string& what) const {
  throw ImageError(path + ": " + what);
}

void Image::fail_in(const SectionHeader& h, const std::string& what) const {
  fail("corrupt image: " + sec_name(h) + ": " + what);
}

ZSTD_DCtx_s* Image::dctx() const {
  if (!dctx_) dctx_.reset(ZSTD_createDCtx());
  if (!dctx_) fail("out of memory for zstd");
  ZSTD_DCtx_reset(dctx_.get(), ZSTD_reset_session_only);
  return dctx_.get();
}

void Image::read_exact(uint64_t off, void* buf, size_t n, const char* what) const {
  size_t done = 0;
  while (done < n) {
    ssize_t r =
        pread(fd_, static_cast<char*>(buf) + done, n - done, static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(std::string("read error in ") + what + ": " + strerror(errno));
    if (r == 0) fail(std::string("truncated image: ") + what + " ends past the end of the file");
    done += static_cast<size_t>(r);
  }
}

std::string Image::read_stored(const SectionHeader& h, uint64_t off) const {
  std::string stored(h.stored_size, '\0');
  read_exact(off, stored.data(), stored.size(), section_name(h.type));
  if (checksum(stored.data(), stored.size()) != h.payload_checksum)
    fail("corrupt image: checksum mismatch in " + sec_name(h));
  return stored;
}

// Everything about one section header that needs no other section.
void Image::check_section_header(const SectionHeader& sh, uint64_t off) const {
  const std::string where =
      "section " + std::to_string(sections.size()) + " at offset " + std::to_string(off);
  if (sh.magic != kSectionMagic ||
      checksum(&sh, offsetof(SectionHeader, header_checksum)) != sh.header_checksum) {
    fail("corrupt image: bad header for " + where);
  }
  if (sh.image_id != header.image_id) {
    char ids[80];
    snprintf(ids, sizeof ids, "%016llx, this image is %016llx",
             static_cast<unsigned long long>(sh.image_id),
             static_cast<unsigned long long>(header.image_id));
    fail("corrupt image: " + where + " (" + section_name(sh.type) +
         ") belongs to another image (image id " + ids + ")");
  }
  if (sh.index != sections.size()) fail("corrupt image: out-of-order " + where);
  const uint32_t prev = sections.empty() ? 0 : sections.back().type;
  if (!strcmp(section_name(sh.type), "UNKNOWN"))
    fail("corrupt image: " + where + " has unknown type " + std::to_string(sh.type));
  if (!may_follow(prev, sh.type)) {
    fail("corrupt image: " + where + " is " + section_name(sh.type) + " where " +
         expected_after(prev) +
         " was expected (order: PROCESS, THREADS, SIGNALS, FDS, PAGES..., REGIONS, END)");
  }
  if (sh.reserved != 0 || (sh.flags & ~kSectionZstd) != 0 ||
      (sh.type != kSecPages && (sh.flags & kSectionZstd))) {
    fail("corrupt image: " + where + " has unknown flags or reserved bits set");
  }
  const uint64_t left = file_size - off - sizeof sh;
  if (sh.stored_size > left) {
    fail("truncated image: " + where + " (" + section_name(sh.type) + ") needs " +
         std::to_string(sh.stored_size) + " bytes, only " + std::to_string(left) + " left");
  }
  const bool is_pages = sh.type == kSecPages;
  const bool zstd = sh.flags & kSectionZstd;
  if ((is_pages ? sh.raw_size > kMaxPagesChunk + (1u << 20) : sh.raw_size > kMaxMetadataSection) ||
      (!zstd && sh.raw_size != sh.stored_size) ||
      (zstd && sh.stored_size > ZSTD_compressBound(sh.raw_size))) {
    fail("corrupt image: implausible sizes in " + where);
  }
}

Image Image::open(const std::string& p) {
  Image img;
  img.path = p;
  // O_NONBLOCK: opening a FIFO must not wait for a writer.
  img.fd_ = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (img.fd_ < 0) img.fail(std::string("cannot open image: ") + strerror(errno));
  struct stat st;
  if (fstat(img.fd_, &st) != 0) img.fail(std::string("cannot stat image: ") + strerror(errno));
  if (!S_ISREG(st.st_mode)) img.fail("not a regular file");
  img.file_size = static_cast<uint64_t>(st.st_size);
  if (img.file_size < sizeof(FileHeader)) {
    img.fail("truncated image: " + std::to_string(img.file_size) +
             " bytes, shorter than the 64-byte header");
  }
  FileHeader& h = img.header;
  img.read_exact(0, &h, sizeof h, "header");
  if (memcmp(h.magic, kMagic, sizeof h.magic) != 0)
    img.fail("not a crmpi process image (bad magic)");
  // The version comes before the checksum: another version may lay the
  // header out differently.
  if (h.version != kVersion) {
    img.fail("unsupported image version " + std::to_string(h.version) +
             " (this build reads version " + std::to_string(kVersion) + ")");
  }
  if (checksum(&h, offsetof(FileHeader, checksum)) != h.checksum) {
    img.fail("corrupt image: header checksum mismatch");
  }
  if (h.arch != kArchX86_64)
    img.fail("image is for another architecture (ELF machine " + std::to_string(h.arch) + ")");
  if (h.page_size != static_cast<uint32_t>(sysconf(_SC_PAGESIZE))) {
    img.fail("image page size " + std::to_string(h.page_size) + " differs from this machine's");
  }
  if (h.image_id == 0 || h.reserved0 || h.reserved1 || (h.flags & ~kImageCompressed))
    img.fail("corrupt image: header has no image id, or unknown flags or reserved bits set");

  img.digest = digest_start(h.checksum);
  uint64_t off = sizeof(FileHeader);
  uint64_t metadata_total = 0;
  bool ended = false;
  while (!ended) {
    if (off == img.file_size)
      img.fail("truncated image: END section missing after " + std::to_string(img.sections.size()) +
               " sections");
    if (img.file_size - off < sizeof(SectionHeader))
      img.fail("truncated image: partial section header at offset " + std::to_string(off));
    SectionHeader sh;
    img.read_exact(off, &sh, sizeof sh, "section header");
    img.check_section_header(sh, off);
    off += sizeof sh;
    img.sections.push_back(sh);
    img.digest = digest_step(img.digest, sh.header_checksum);
    if (sh.type == kSecPages) {
      ChunkRef c;
      c.hdr = sh;
      c.payload_offset = off;
      img.read_chunk_head(c);
      img.chunks.push_back(std::move(c));
    } else {
      metadata_total += sh.raw_size;
      if (metadata_total > kMaxMetadataSection) img.fail("corrupt image: metadata too large");
      img.parse(sh, img.read_stored(sh, off));  // metadata is never compressed
      ended = sh.type == kSecEnd;
    }
    off += sh.stored_size;
  }
  if (off != img.file_size)
    img.fail("corrupt image: " + std::to_string(img.file_size - off) +
             " bytes after the END section");
  img.validate();
  return img;
}

void Image::parse(const SectionHeader& h, const std::string& payload) {
  Decoder d(payload, *this, h);
  switch (h.type) {
    case kSecProcess: {
      process.rec = d.pod<ProcessRecord>();
      process.cwd = d.str();
      process.exe = d.str();
      std::string cmd = d.str();
      for (size_t i = 0; i < cmd.size();) {
        size_t z = cmd.find('\0', i);
        if (z == std::string::npos) z = cmd.size();
        process.argv.push_back(cmd.substr(i, z - i));
        i = z + 1;
      }
      break;
    }
    case kSecThreads: {
      uint32_t n = d.count(kMaxThreads);
      for (uint32_t i = 0; i < n; ++i) {
        ThreadInfo t;
        t.rec = d.pod<ThreadRecord>();
        if (t.rec.xstate_size > 64 * 1024 || t.rec.npending > 1024)
          d.fail("implausible record of thread " + std::to_string(i));
        t.xstate.resize(t.rec.xstate_size);
        d.take(t.xstate.data(), t.xstate.size());
        t.pending.resize(t.rec.npending);
        d.take(t.pending.data(), t.pending.size() * sizeof(PendingSignal));
        threads.push_back(std::move(t));
      }
      break;
    }
    case kSecSignals: {
      uint32_t n = d.count(kNumSignals);
      if (n != kNumSignals)
        d.fail("has " + std::to_string(n) + " handlers, not " + std::to_string(kNumSignals));
      sigactions.resize(n);
      d.take(sigactions.data(), n * sizeof(KSigaction));
      break;
    }
    case kSecFds: {
      uint32_t n = d.count(kMaxFds);
      for (uint32_t i = 0; i < n; ++i) {
        FdInfo f;
        f.rec = d.pod<FdRecord>();
        f.path = d.str();
        f.data = d.str();
        fds.push_back(std::move(f));
      }
      break;
    }
    case kSecRegions: {
      uint32_t n = d.count(kMaxRegions);
      for (uint32_t i = 0; i < n; ++i) {
        RegionInfo r;
        r.rec = d.pod<RegionRecord>();
        r.path = d.str();
        regions.push_back(std::move(r));
      }
      break;
    }
    case kSecEnd:
      end = d.pod<EndRecord>();
      break;
    default:  // check_section_header() refused it already
      d.fail("unknown section type");
  }
  d.done();
}

// Reads a PAGES section's chunk header and run list (the page data is read
// by load_chunk).  A compressed section is read whole and checksummed first:
// its run list is only reachable through the decompressor.
void Image::read_chunk_head(ChunkRef& c) const {
  const SectionHeader& h = c.hdr;
  PagesChunkHeader& ch = c.head;
  if (h.raw_size < sizeof ch) fail_in(h, "too short for its header");
  if (!(h.flags & kSectionZstd)) {
    read_exact(c.payload_offset, &ch, sizeof ch, "PAGES");
    if (ch.nruns == 0 || ch.nruns > (h.raw_size - sizeof ch) / sizeof(PageRun))
      fail_in(h, "bad run count " + std::to_string(ch.nruns));
    c.runs.resize(ch.nruns);
    read_exact(c.payload_offset + sizeof ch, c.runs.data(), ch.nruns * sizeof(PageRun), "PAGES");
    return;
  }
  const std::string stored = read_stored(h, c.payload_offset);
  ZSTD_inBuffer in = {stored.data(), stored.size(), 0};
  ZSTD_DCtx* dc = dctx();
  auto pull = [&](void* out, size_t n) {
    ZSTD_outBuffer ob = {out, n, 0};
    while (ob.pos < ob.size) {
      size_t before_in = in.pos, before_out = ob.pos;
      size_t r = ZSTD_decompressStream(dc, &ob, &in);
      if (ZSTD_isError(r)) fail_in(h, "does not decompress");
      if (in.pos == before_in && ob.pos == before_out) fail_in(h, "is short after decompression");
    }
  };
  pull(&ch, sizeof ch);
  if (ch.nruns == 0 || ch.nruns > (h.raw_size - sizeof ch) / sizeof(PageRun))
    fail_in(h, "bad run count " + std::to_string(ch.nruns));
  c.runs.resize(ch.nruns);
  pull(c.runs.data(), ch.nruns * sizeof(PageRun));
}

void Image::verify_pages() const {
  for (const ChunkRef& c : chunks) load_chunk(c, nullptr);
}

void Image::load_chunk(const ChunkRef& c,
                       const std::function<char*(uint64_t, uint64_t)>& dest) const {
  if (c.hdr.flags & kSectionZstd) {
    load_zstd(c, dest);
  } else {
    load_stored(c, dest);
  }
}

// Algorithm (stored section): re-read the head (chunk header, runs, padding)
// and insist it is what open() checked, then read each run's bytes straight
// into its destination in 1 MiB pieces, hashing each piece while it is still
// in cache; the digest must match the section's checksum.
void Image::load_stored(const ChunkRef& c,
                        const std::function<char*(uint64_t, uint64_t)>& dest) const {
  const uint64_t page = header.page_size;
  const uint64_t head_len = c.head.data_offset;  // validate() bounded it
  std::vector<char> head(head_len);
  read_exact(c.payload_offset, head.data(), head.size(), "PAGES");
  const size_t list = sizeof c.head + c.runs.size() * sizeof(PageRun);
  if (memcmp(head.data(), &c.head, sizeof c.head) != 0 ||
      memcmp(head.data() + sizeof c.head, c.runs.data(), list - sizeof c.head) != 0) {
    fail_in(c.hdr, "run list changed since the image was opened");
  }
  if (std::any_of(head.begin() + static_cast<ptrdiff_t>(list), head.end(),
                  [](char b) { return b != 0; }))
    fail_in(c.hdr, "padding is not zero");
  XXH3_state_t st;
  XXH3_64bits_reset(&st);
  XXH3_64bits_update(&st, head.data(), head.size());
  uint64_t off = c.payload_offset + head_len;
  for (const PageRun& run : c.runs) {
    const uint64_t len = run.npages * page;
    char* d = dest ? dest(run.addr, len) : nullptr;
    for (uint64_t done = 0; done < len;) {
      const uint64_t n = std::min<uint64_t>(len - done, 1u << 20);
      char* to = d ? d + done : (sink_.resize(1u << 20), sink_.data());
      read_exact(off + done, to, n, "PAGES");
      XXH3_64bits_update(&st, to, n);
      done += n;
    }
    off += len;
  }
  if (XXH3_64bits_digest(&st) != c.hdr.payload_checksum)
    fail("corrupt image: checksum mismatch in " + sec_name(c.hdr));
}

// Algorithm (compressed section): verify the stored bytes' checksum, then
// stream-decompress: the head must equal what open() checked, each run goes
// to its destination, and the frame must end exactly there, with no input
// left over.
void Image::load_zstd(const ChunkRef& c,
                      const std::function<char*(uint64_t, uint64_t)>& dest) const {
  const SectionHeader& h = c.hdr;
  const uint64_t page = header.page_size;
  // One buffer for all sections: a fresh 32 MiB allocation per section
  // would be mapped, zeroed and unmapped every time.
  if (zbuf_.size() < h.stored_size) zbuf_.resize(h.stored_size);
  read_exact(c.payload_offset, zbuf_.data(), h.stored_size, "PAGES");
  if (checksum(zbuf_.data(), h.stored_size) != h.payload_checksum)
    fail("corrupt image: checksum mismatch in " + sec_name(h));
  ZSTD_DCtx* dc = dctx();
  ZSTD_inBuffer in = {zbuf_.data(), h.stored_size, 0};
  size_t last = 1;  // ZSTD_decompressStream's last return: 0 = frame complete
  auto pull = [&](void* out, size_t n) {
    ZSTD_outBuffer ob = {out, n, 0};
    while (ob.pos < ob.size) {
      size_t before_in = in.pos, before_out = ob.pos;
      last = ZSTD_decompressStream(dc, &ob, &in);
      if (ZSTD_isError(last)) fail_in(h, "does not decompress");
      if (in.pos == before_in && ob.pos == before_out) fail_in(h, "is short after decompression");
    }
  };
  const size_t list = sizeof c.head + c.runs.size() * sizeof(PageRun);
  std::vector<char> head(list);
  pull(head.data(), head.size());
  if (c.head.data_offset != list || memcmp(head.data(), &c.head, sizeof c.head) != 0 ||
      memcmp(head.data() + sizeof c.head, c.runs.data(), list - sizeof c.head) != 0) {
    fail_in(h, "run list changed since the image was opened");
  }
  for (const PageRun& run : c.runs) {
    const uint64_t len = run.npages * page;
    char* d = dest ? dest(run.addr, len) : nullptr;
    for (uint64_t done = 0; done < len;) {
      const uint64_t n = std::min<uint64_t>(len - done, 1u << 20);
      pull(d ? d + done : (sink_.resize(1u << 20), sink_.data()), n);
      done += n;
    }
  }
  // Nothing may follow the runs' bytes: the frame ends, the input with it.
  char extra;
  while (last != 0) {
    ZSTD_outBuffer ob = {&extra, 1, 0};
    const size_t before_in = in.pos;
    last = ZSTD_decompressStream(dc, &ob, &in);
    if (ZSTD_isError(last)) fail_in(h, "does not decompress");
    if (ob.pos) fail_in(h, "decompresses to more bytes than its runs");
    if (last != 0 && in.pos == before_in) fail_in(h, "zstd frame is incomplete");
  }
  if (in.pos != in.size) fail_in(h, "has bytes after its zstd frame");
}

}  // namespace crimg
