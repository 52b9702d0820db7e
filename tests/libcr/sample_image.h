// sample_image.h -- writes a small, complete and valid image through the
// writer API: a fake process with one thread and one region whose pages
// come from a caller's buffer.  Used by the format unit tests and by the
// fuzzers' seed-corpus maker.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>

#include "writer.h"

namespace crtest {

inline constexpr size_t kPage = 4096;

// A whole file as bytes, and bytes as a whole file (test helpers).
inline std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_all(const std::string& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Writes the image to @path: PROCESS, THREADS, SIGNALS, FDS, two PAGES
// sections (runs with a hole, then the hole in a section of its own), REGIONS,
// END.  @mem holds @npages (>= 4) pages; zstd @level, 0 = stored.  @fds:
// the FDS payload, if not the default one (one pipe holding "queued").
// Returns "" or what failed.
inline std::string write_sample_image(const std::string& path, const char* mem, size_t npages,
                                      int level, const std::string* fds = nullptr) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "cannot create " + path;
  crimg::Scratch scratch;
  if (scratch.init(256u << 20) != 0) return "no scratch";
  crimg::ImageWriter w;
  std::string err;
  auto step = [&](const char* what, int rc) {
    if (rc && err.empty()) err = std::string(what) + " failed: " + std::to_string(rc);
  };
  const uint64_t base = reinterpret_cast<uint64_t>(mem);
  step("begin", w.begin(fd, &scratch, 4242, level));
  char buf[8192];
  {
    crimg::Encoder e(buf, sizeof buf);
    crimg::ProcessRecord p{};
    p.pid = 4242;
    p.nthreads = 1;
    p.main_tid = 4242;
    p.umask = 022;
    e.pod(p);
    e.str("/tmp");
    e.str("/bin/prog");
    e.str(std::string("prog\0arg", 8).c_str(), 8);
    step("PROCESS", w.metadata(crimg::kSecProcess, e.data(), e.size()));
  }
  {
    crimg::Encoder e(buf, sizeof buf);
    e.pod(uint32_t{1});
    crimg::ThreadRecord t{};
    t.tid = 4242;
    t.flags = crimg::kThreadMain | crimg::kThreadManager;
    t.ctx.rip = base + 0x10;
    t.ctx.rsp = base + 2 * kPage;
    e.pod(t);
    step("THREADS", w.metadata(crimg::kSecThreads, e.data(), e.size()));
  }
  {
    crimg::Encoder e(buf, sizeof buf);
    e.pod(crimg::kNumSignals);
    crimg::KSigaction k[crimg::kNumSignals] = {};
    k[1].handler = 0xabc;
    e.pod(k);
    step("SIGNALS", w.metadata(crimg::kSecSignals, e.data(), e.size()));
  }
  {
    crimg::Encoder e(buf, sizeof buf);
    e.pod(uint32_t{1});
    crimg::FdRecord f{};
    f.fd = 5;
    f.kind = crimg::kFdPipe;
    e.pod(f);
    e.str("pipe:[1]");
    e.str("queued", 6);
    const std::string payload = fds ? *fds : std::string(e.data(), e.size());
    step("FDS", w.metadata(crimg::kSecFds, payload.data(), payload.size()));
  }
  // Two runs with a hole, then the hole in a section of its own.
  crimg::PageRun runs[2] = {{base, 2}, {base + 3 * kPage, npages - 3}};
  step("PAGES", w.pages(0, runs, 2));
  crimg::PageRun one[1] = {{base + 2 * kPage, 1}};
  step("PAGES", w.pages(0, one, 1));
  {
    crimg::Encoder e(buf, sizeof buf);
    e.pod(uint32_t{1});
    crimg::RegionRecord r{};
    r.start = base;
    r.end = base + npages * kPage;
    r.prot = PROT_READ | PROT_WRITE | PROT_EXEC;
    r.kind = crimg::kRegAnon;
    r.saved_pages = npages;
    e.pod(r);
    e.str("[test]");
    step("REGIONS", w.metadata(crimg::kSecRegions, e.data(), e.size()));
  }
  step("END", w.end());
  close(fd);
  scratch.release();
  return err;
}

}  // namespace crtest
