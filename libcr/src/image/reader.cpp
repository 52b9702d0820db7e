// reader.cpp -- see reader.h.
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
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

// Bounds-checked cursor over a metadata payload.
class Decoder {
 public:
  Decoder(const std::string& s, const Image& img, const char* sec)
      : p_(s.data()), n_(s.size()), img_(img), sec_(sec) {}
  template <typename T>
  T pod() {
    T v;
    take(&v, sizeof v);
    return v;
  }
  void take(void* out, size_t n) {
    if (n > n_ - off_) {
      throw ImageError(img_.path + ": corrupt image: " + sec_ +
                       " section is shorter than its records");
    }
    if (n) memcpy(out, p_ + off_, n);
    off_ += n;
  }
  std::string str() {
    uint32_t len = pod<uint32_t>();
    if (len > n_ - off_) {
      throw ImageError(img_.path + ": corrupt image: " + sec_ +
                       " section is shorter than its records");
    }
    std::string s(p_ + off_, len);
    off_ += len;
    return s;
  }
  uint32_t count(uint32_t max) {
    uint32_t c = pod<uint32_t>();
    if (c > max) {
      throw ImageError(img_.path + ": corrupt image: " + sec_ + " claims " + std::to_string(c) +
                       " records (limit " + std::to_string(max) + ")");
    }
    return c;
  }

 private:
  const char* p_;
  size_t n_;
  size_t off_ = 0;
  const Image& img_;
  const char* sec_;
};

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
    fd_ = o.fd_;
    o.fd_ = -1;
    zbuf_ = std::move(o.zbuf_);
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

std::string Image::read_payload(const SectionHeader& h, uint64_t off) const {
  std::string stored(h.stored_size, '\0');
  read_exact(off, stored.data(), stored.size(), section_name(h.type));
  if (checksum(stored.data(), stored.size()) != h.payload_checksum) {
    fail("corrupt image: checksum mismatch in section " + std::to_string(h.index) + " (" +
         section_name(h.type) + ")");
  }
  if (!(h.flags & kSectionZstd)) return stored;
  std::string raw(h.raw_size, '\0');
  size_t r = ZSTD_decompress(raw.data(), raw.size(), stored.data(), stored.size());
  if (ZSTD_isError(r) || r != h.raw_size) {
    fail("corrupt image: section " + std::to_string(h.index) + " (" + section_name(h.type) +
         ") does not decompress");
  }
  return raw;
}

Image Image::open(const std::string& p) {
  Image img;
  img.path = p;
  img.fd_ = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
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

  uint64_t off = sizeof(FileHeader);
  bool ended = false;
  while (!ended) {
    if (off == img.file_size)
      img.fail("truncated image: END section missing after " + std::to_string(img.sections.size()) +
               " sections");
    if (img.file_size - off < sizeof(SectionHeader))
      img.fail("truncated image: partial section header at offset " + std::to_string(off));
    SectionHeader sh;
    img.read_exact(off, &sh, sizeof sh, "section header");
    const std::string where =
        "section " + std::to_string(img.sections.size()) + " at offset " + std::to_string(off);
    if (sh.magic != kSectionMagic ||
        checksum(&sh, offsetof(SectionHeader, header_checksum)) != sh.header_checksum) {
      img.fail("corrupt image: bad header for " + where);
    }
    if (sh.index != img.sections.size()) img.fail("corrupt image: out-of-order " + where);
    off += sizeof sh;
    if (sh.stored_size > img.file_size - off) {
      img.fail("truncated image: " + where + " (" + section_name(sh.type) + ") needs " +
               std::to_string(sh.stored_size) + " bytes, only " +
               std::to_string(img.file_size - off) + " left");
    }
    const bool is_pages = sh.type == kSecPages;
    if ((is_pages ? sh.raw_size > kMaxPagesChunk + (1u << 20)
                  : sh.raw_size > kMaxMetadataSection) ||
        (!(sh.flags & kSectionZstd) && sh.raw_size != sh.stored_size)) {
      img.fail("corrupt image: implausible sizes in " + where);
    }
    img.sections.push_back(sh);
    if (is_pages) {
      img.chunks.push_back({sh, off});
    } else {
      img.parse(sh, img.read_payload(sh, off));
      ended = sh.type == kSecEnd;
    }
    off += sh.stored_size;
  }
  if (off != img.file_size)
    img.fail("corrupt image: " + std::to_string(img.file_size - off) +
             " bytes after the END section");
  if (img.end.nsections != img.sections.size() - 1)
    img.fail("corrupt image: END counts " + std::to_string(img.end.nsections) + " sections");
  if (img.process.rec.pid == 0 || img.threads.empty() || img.regions.empty())
    img.fail("corrupt image: PROCESS, THREADS or REGIONS section missing");
  return img;
}

void Image::parse(const SectionHeader& h, const std::string& payload) {
  Decoder d(payload, *this, section_name(h.type));
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
          fail("corrupt image: implausible thread record");
        t.xstate.resize(t.rec.xstate_size);
        d.take(t.xstate.data(), t.xstate.size());
        t.pending.resize(t.rec.npending);
        d.take(t.pending.data(), t.pending.size() * sizeof(PendingSignal));
        threads.push_back(std::move(t));
      }
      break;
    }
    case kSecSignals: {
      uint32_t n = d.count(128);
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
        if (r.rec.end <= r.rec.start || (r.rec.start | r.rec.end) % header.page_size)
          fail("corrupt image: bad region bounds");
        regions.push_back(std::move(r));
      }
      break;
    }
    case kSecEnd:
      end = d.pod<EndRecord>();
      break;
    default:
      fail("corrupt image: unknown section type " + std::to_string(h.type));
  }
}

std::vector<PageRun> Image::chunk_runs(const ChunkRef& c, uint32_t* region) const {
  std::vector<PageRun> runs;
  PagesChunkHeader ch;
  if (c.hdr.flags & kSectionZstd) {
    std::string raw = read_payload(c.hdr, c.payload_offset);
    if (raw.size() < sizeof ch) fail("corrupt image: short PAGES section");
    memcpy(&ch, raw.data(), sizeof ch);
    if (ch.nruns > (raw.size() - sizeof ch) / sizeof(PageRun))
      fail("corrupt image: bad PAGES run count");
    runs.resize(ch.nruns);
    memcpy(runs.data(), raw.data() + sizeof ch, ch.nruns * sizeof(PageRun));
  } else {
    if (c.hdr.stored_size < sizeof ch) fail("corrupt image: short PAGES section");
    read_exact(c.payload_offset, &ch, sizeof ch, "PAGES");
    if (ch.nruns > (c.hdr.stored_size - sizeof ch) / sizeof(PageRun))
      fail("corrupt image: bad PAGES run count");
    runs.resize(ch.nruns);
    read_exact(c.payload_offset + sizeof ch, runs.data(), ch.nruns * sizeof(PageRun), "PAGES");
  }
  *region = ch.region_index;
  return runs;
}

void Image::verify_pages() const {
  std::vector<char> buf;
  for (const ChunkRef& c : chunks) {
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    buf.resize(std::min<uint64_t>(c.hdr.stored_size, 8u << 20));
    for (uint64_t done = 0; done < c.hdr.stored_size;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), c.hdr.stored_size - done));
      read_exact(c.payload_offset + done, buf.data(), n, "PAGES");
      XXH3_64bits_update(&st, buf.data(), n);
      done += n;
    }
    if (XXH3_64bits_digest(&st) != c.hdr.payload_checksum) {
      fail("corrupt image: checksum mismatch in section " + std::to_string(c.hdr.index) +
           " (PAGES)");
    }
  }
}

void Image::load_chunk(const ChunkRef& c,
                       const std::function<char*(uint64_t, uint64_t)>& dest) const {
  const std::string sec = "section " + std::to_string(c.hdr.index) + " (PAGES)";
  const uint64_t page = header.page_size;
  auto check_runs = [&](const PagesChunkHeader& ch, const std::vector<PageRun>& runs,
                        uint64_t avail) {
    if (ch.region_index >= regions.size())
      fail("corrupt image: " + sec + " names region " + std::to_string(ch.region_index));
    const RegionRecord& r = regions[ch.region_index].rec;
    uint64_t total = 0;
    for (const PageRun& run : runs) {
      if (run.npages == 0 || run.addr < r.start || run.addr % page ||
          run.npages > (r.end - run.addr) / page) {
        fail("corrupt image: " + sec + " has a page run outside its region");
      }
      total += run.npages * page;
    }
    if (total != avail) fail("corrupt image: " + sec + " data size does not match its runs");
  };

  PagesChunkHeader ch;
  if (!(c.hdr.flags & kSectionZstd)) {
    if (c.hdr.stored_size < sizeof ch) fail("corrupt image: short " + sec);
    read_exact(c.payload_offset, &ch, sizeof ch, "PAGES");
    if (ch.nruns > (c.hdr.stored_size - sizeof ch) / sizeof(PageRun))
      fail("corrupt image: bad run count in " + sec);
    std::vector<PageRun> runs(ch.nruns);
    read_exact(c.payload_offset + sizeof ch, runs.data(), runs.size() * sizeof(PageRun), "PAGES");
    const uint64_t head = sizeof ch + runs.size() * sizeof(PageRun);
    check_runs(ch, runs, c.hdr.stored_size - head);
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, &ch, sizeof ch);
    XXH3_64bits_update(&st, runs.data(), runs.size() * sizeof(PageRun));
    uint64_t off = c.payload_offset + head;
    for (const PageRun& run : runs) {
      const uint64_t len = run.npages * page;
      char* d = dest(run.addr, len);
      // Hash each piece right after reading it, while it is still in cache.
      for (uint64_t done = 0; done < len;) {
        const uint64_t n = std::min<uint64_t>(len - done, 1u << 20);
        read_exact(off + done, d + done, n, "PAGES");
        XXH3_64bits_update(&st, d + done, n);
        done += n;
      }
      off += len;
    }
    if (XXH3_64bits_digest(&st) != c.hdr.payload_checksum)
      fail("corrupt image: checksum mismatch in " + sec);
    return;
  }

  // Compressed: verify the stored bytes first, then stream-decompress into
  // the destinations.
  // One buffer for all sections: a fresh 32 MiB allocation per section
  // would be mapped, zeroed and unmapped every time.
  if (zbuf_.size() < c.hdr.stored_size) zbuf_.resize(c.hdr.stored_size);
  read_exact(c.payload_offset, zbuf_.data(), c.hdr.stored_size, "PAGES");
  if (checksum(zbuf_.data(), c.hdr.stored_size) != c.hdr.payload_checksum)
    fail("corrupt image: checksum mismatch in " + sec);
  if (!dctx_) dctx_.reset(ZSTD_createDCtx());
  ZSTD_DCtx_reset(dctx_.get(), ZSTD_reset_session_only);
  ZSTD_DCtx* dctx = dctx_.get();
  ZSTD_inBuffer in = {zbuf_.data(), c.hdr.stored_size, 0};
  auto pull = [&](void* out, size_t n) {
    ZSTD_outBuffer ob = {out, n, 0};
    while (ob.pos < ob.size) {
      size_t before_in = in.pos, before_out = ob.pos;
      size_t r = ZSTD_decompressStream(dctx, &ob, &in);
      if (ZSTD_isError(r)) fail("corrupt image: " + sec + " does not decompress");
      if (in.pos == before_in && ob.pos == before_out)
        fail("corrupt image: " + sec + " is short after decompression");
    }
  };
  pull(&ch, sizeof ch);
  if (ch.nruns > c.hdr.raw_size / sizeof(PageRun)) fail("corrupt image: bad run count in " + sec);
  std::vector<PageRun> runs(ch.nruns);
  pull(runs.data(), runs.size() * sizeof(PageRun));
  check_runs(ch, runs, c.hdr.raw_size - sizeof ch - runs.size() * sizeof(PageRun));
  for (const PageRun& run : runs) pull(dest(run.addr, run.npages * page), run.npages * page);
}

}  // namespace crimg
