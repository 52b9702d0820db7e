// format_test.cpp -- the image format: round trip, and every corruption
// (truncation anywhere, any flipped byte, bad magic, version) rejected.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "reader.h"
#include "sample_image.h"

namespace {

using crtest::kPage;

std::string temp_path(const char* tag) {
  return std::string(::testing::TempDir()) + "/crimg_" + tag + "_" + std::to_string(getpid());
}

using crtest::read_all;
using crtest::write_all;

void make_image(const std::string& path, const char* mem, size_t npages, int level) {
  ASSERT_EQ(crtest::write_sample_image(path, mem, npages, level), "");
}

class FormatTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    npages_ = 8;
    mem_ = static_cast<char*>(
        mmap(nullptr, npages_ * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    for (size_t i = 0; i < npages_ * kPage; ++i) mem_[i] = static_cast<char>((i * 131) ^ (i >> 9));
    path_ = temp_path(GetParam() ? "z" : "s");
    make_image(path_, mem_, npages_, GetParam());
  }
  void TearDown() override {
    munmap(mem_, npages_ * kPage);
    unlink(path_.c_str());
  }
  char* mem_;
  size_t npages_;
  std::string path_;
};

TEST_P(FormatTest, RoundTrip) {
  crimg::Image img = crimg::Image::open(path_);
  EXPECT_EQ(img.header.version, crimg::kVersion);
  EXPECT_EQ(img.process.rec.pid, 4242u);
  EXPECT_EQ(img.process.cwd, "/tmp");
  ASSERT_EQ(img.process.argv.size(), 2u);
  EXPECT_EQ(img.process.argv[1], "arg");
  ASSERT_EQ(img.threads.size(), 1u);
  EXPECT_EQ(img.threads[0].rec.ctx.rip, reinterpret_cast<uint64_t>(mem_) + 0x10);
  ASSERT_EQ(img.sigactions.size(), 64u);
  EXPECT_EQ(img.sigactions[1].handler, 0xabcu);
  ASSERT_EQ(img.fds.size(), 1u);
  EXPECT_EQ(img.fds[0].data, "queued");
  ASSERT_EQ(img.regions.size(), 1u);
  EXPECT_EQ(img.regions[0].path, "[test]");
  ASSERT_EQ(img.chunks.size(), 2u);
  EXPECT_EQ(img.end.total_pages, npages_);
  img.verify_pages();
  std::vector<char> out(npages_ * kPage, 0);
  const uint64_t base = reinterpret_cast<uint64_t>(mem_);
  for (const crimg::ChunkRef& c : img.chunks) {
    img.load_chunk(c, [&](uint64_t addr, uint64_t len) {
      EXPECT_LE(addr - base + len, out.size());
      return out.data() + (addr - base);
    });
  }
  EXPECT_EQ(0, memcmp(out.data(), mem_, out.size()));
}

// Any truncation is rejected by open() or by page verification.
TEST_P(FormatTest, EveryTruncationRejected) {
  const std::string good = read_all(path_);
  const std::string bad = path_ + ".bad";
  for (size_t len = 0; len < good.size(); len += (len < 256 ? 1 : 97)) {
    write_all(bad, good.substr(0, len));
    EXPECT_THROW(
        {
          crimg::Image img = crimg::Image::open(bad);
          img.verify_pages();
        },
        crimg::ImageError)
        << "truncated to " << len;
  }
  unlink(bad.c_str());
}

// Every single flipped byte is caught by some checksum.
TEST_P(FormatTest, EveryFlippedByteRejected) {
  const std::string good = read_all(path_);
  const std::string bad = path_ + ".bad";
  for (size_t off = 0; off < good.size(); off += (off < 4096 ? 1 : 61)) {
    std::string b = good;
    b[off] = static_cast<char>(b[off] ^ 0x10);
    write_all(bad, b);
    EXPECT_THROW(
        {
          crimg::Image img = crimg::Image::open(bad);
          img.verify_pages();
        },
        crimg::ImageError)
        << "byte " << off;
  }
  unlink(bad.c_str());
}

TEST_P(FormatTest, MessagesNameTheProblem) {
  std::string good = read_all(path_);
  const std::string bad = path_ + ".bad";
  auto msg = [&](const std::string& data) -> std::string {
    write_all(bad, data);
    try {
      crimg::Image::open(bad);
    } catch (const crimg::ImageError& e) {
      return e.what();
    }
    return "";
  };
  std::string b = good;
  b[0] = 'X';
  EXPECT_NE(msg(b).find("bad magic"), std::string::npos);
  b = good;
  b[8] = 7;
  EXPECT_NE(msg(b).find("unsupported image version 7"), std::string::npos);
  b[8] = 1;  // the previous format: named as such, not as corruption
  EXPECT_NE(msg(b).find("unsupported image version 1 (this build reads version 2)"),
            std::string::npos);
  EXPECT_NE(msg(good.substr(0, good.size() / 2)).find("truncated"), std::string::npos);
  EXPECT_NE(msg(good.substr(0, good.size() / 2)).find(bad), std::string::npos);
  EXPECT_NE(msg(good + "junk").find("after the END"), std::string::npos);
  unlink(bad.c_str());
  EXPECT_NE(msg("").find("truncated"), std::string::npos);
  unlink(bad.c_str());
  try {
    crimg::Image::open(bad);
    FAIL();
  } catch (const crimg::ImageError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos);
  }
}

// Corruption that keeps every checksum valid (as a buggy writer or a
// deliberate edit would): random bytes in metadata payloads, checksums
// recomputed.  open() must either accept or throw ImageError; it must never
// crash, hang or allocate without bound (run under ASan too).
TEST_P(FormatTest, ChecksummedGarbageNeverCrashes) {
  const std::string good = read_all(path_);
  const std::string bad = path_ + ".bad";
  // Locate the sections.
  std::vector<std::pair<size_t, crimg::SectionHeader>> secs;
  for (size_t off = sizeof(crimg::FileHeader); off + sizeof(crimg::SectionHeader) <= good.size();) {
    crimg::SectionHeader h;
    memcpy(&h, good.data() + off, sizeof h);
    secs.push_back({off, h});
    off += sizeof h + h.stored_size;
  }
  uint64_t rng = 12345;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string b = good;
    auto& [off, h] = secs[next() % secs.size()];
    if (h.stored_size == 0 || (h.flags & crimg::kSectionZstd)) continue;
    const size_t payload = off + sizeof(crimg::SectionHeader);
    const int flips = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < flips; ++k) {
      b[payload + next() % h.stored_size] = static_cast<char>(next());
    }
    crimg::SectionHeader nh = h;
    nh.payload_checksum = crimg::checksum(b.data() + payload, h.stored_size);
    nh.header_checksum = crimg::checksum(&nh, offsetof(crimg::SectionHeader, header_checksum));
    memcpy(b.data() + off, &nh, sizeof nh);
    write_all(bad, b);
    try {
      crimg::Image img = crimg::Image::open(bad);
      img.verify_pages();
      std::vector<char> sink(npages_ * kPage);
      const uint64_t base = reinterpret_cast<uint64_t>(mem_);
      for (const crimg::ChunkRef& c : img.chunks) {
        img.load_chunk(c, [&](uint64_t addr, uint64_t len) -> char* {
          // load_chunk has checked the run against its region; the region
          // itself may have been edited to lie outside our buffer.
          if (addr < base || addr - base + len > sink.size()) throw crimg::ImageError("outside");
          return sink.data() + (addr - base);
        });
      }
      ++accepted;
    } catch (const crimg::ImageError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
  unlink(bad.c_str());
}

INSTANTIATE_TEST_SUITE_P(StoredAndZstd, FormatTest, ::testing::Values(0, 1));

}  // namespace
