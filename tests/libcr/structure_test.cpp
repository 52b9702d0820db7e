// structure_test.cpp -- images whose checksums are all valid but whose
// parts disagree (issue 8, finding 6): every one must be refused by
// Image::open() or Image::verify_pages() -- the checks cr_restart runs
// before its point of no return -- with a message naming the file, the
// section and the problem.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "image_edit.h"
#include "reader.h"
#include "sample_image.h"

namespace {

using crtest::EditImage;
using crtest::kPage;

using crtest::read_all;
using crtest::write_all;

template <typename T>
T get(const std::string& s, size_t off) {
  T v;
  memcpy(&v, s.data() + off, sizeof v);
  return v;
}
template <typename T>
void put(std::string& s, size_t off, const T& v) {
  memcpy(s.data() + off, &v, sizeof v);
}

// Section positions in the sample image.
enum { kProc, kThr, kSig, kFds, kPages1, kPages2, kRegs, kEnd };

class StructureTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    mem_ = static_cast<char*>(
        mmap(nullptr, kNpages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    for (size_t i = 0; i < kNpages * kPage; ++i) mem_[i] = static_cast<char>(i * 7 + (i >> 12));
    const std::string tag = std::to_string(getpid()) + (GetParam() ? "z" : "s");
    path_ = std::string(::testing::TempDir()) + "/crimg_struct_" + tag;
    other_ = path_ + ".other";
    bad_ = path_ + ".bad";
    ASSERT_EQ(crtest::write_sample_image(path_, mem_, kNpages, GetParam()), "");
    mem_[5] ^= 1;  // a second image of "the same process", a moment later
    ASSERT_EQ(crtest::write_sample_image(other_, mem_, kNpages, GetParam()), "");
    ASSERT_TRUE(crtest::split_image(read_all(path_), &img_));
    ASSERT_TRUE(crtest::split_image(read_all(other_), &oimg_));
    ASSERT_EQ(img_.secs.size(), 8u);
  }
  void TearDown() override {
    munmap(mem_, kNpages * kPage);
    unlink(path_.c_str());
    unlink(other_.c_str());
    unlink(bad_.c_str());
  }
  // Writes @e with valid checksums; returns the error of open() +
  // verify_pages(), or "" if the image was accepted.
  std::string error_of(const EditImage& e, bool* open_ok = nullptr) {
    write_all(bad_, crtest::join_image(e));
    if (open_ok) *open_ok = false;
    try {
      crimg::Image img = crimg::Image::open(bad_);
      if (open_ok) *open_ok = true;
      img.verify_pages();
    } catch (const crimg::ImageError& ex) {
      EXPECT_NE(std::string(ex.what()).find(bad_), std::string::npos) << ex.what();
      return ex.what();
    }
    return "";
  }
  void expect_refused(const EditImage& e, const std::string& what) {
    const std::string err = error_of(e);
    EXPECT_NE(err.find(what), std::string::npos) << "error: '" << err << "', want: " << what;
  }
  // Sets the END record's section count to match.
  static void fix_end(EditImage& e) {
    put(e.secs.back().payload, 0, static_cast<uint32_t>(e.secs.size() - 1));
  }
  bool zstd() const { return GetParam() != 0; }

  static constexpr size_t kNpages = 8;
  char* mem_;
  std::string path_, other_, bad_;
  EditImage img_, oimg_;
};

TEST_P(StructureTest, UneditedImageIsAccepted) {
  EXPECT_EQ(error_of(img_), "");
  // Every id differs: the two images were written a moment apart.
  EXPECT_NE(img_.fh.image_id, oimg_.fh.image_id);
  EXPECT_NE(img_.fh.image_id, 0u);
}

// A section from another image, with every checksum valid, is refused.
TEST_P(StructureTest, SectionFromAnotherImage) {
  for (int i : {kThr, kPages1, kRegs, kEnd}) {
    EditImage e = img_;
    e.secs[i] = oimg_.secs[i];
    expect_refused(e, "section " + std::to_string(i) + " at offset");
    expect_refused(e, "belongs to another image");
  }
}

TEST_P(StructureTest, MissingOrRepeatedOrMisplacedSections) {
  EditImage e = img_;
  e.secs.erase(e.secs.begin() + kSig);
  fix_end(e);
  expect_refused(e, "section 2 at offset ");  // names the place...
  expect_refused(e, "is FDS where SIGNALS was expected");  // ...and the problem
  e = img_;
  e.secs.erase(e.secs.begin() + kFds);
  fix_end(e);
  expect_refused(e, "is PAGES where FDS was expected");
  e = img_;
  e.secs.insert(e.secs.begin() + kThr, e.secs[kThr]);
  fix_end(e);
  expect_refused(e, "is THREADS where SIGNALS was expected");
  e = img_;
  std::swap(e.secs[kPages2], e.secs[kRegs]);
  expect_refused(e, "is PAGES where END was expected");
  e = img_;
  e.secs.erase(e.secs.begin() + kRegs);
  fix_end(e);
  expect_refused(e, "is END where PAGES or REGIONS was expected");
}

TEST_P(StructureTest, CountsAndTotals) {
  EditImage e = img_;
  // REGIONS: u32 count, RegionRecord (saved_pages is its last field).
  const size_t saved = 4 + offsetof(crimg::RegionRecord, saved_pages);
  put<uint64_t>(e.secs[kRegs].payload, saved, kNpages - 1);
  expect_refused(e, "section 6 (REGIONS): region 0");
  expect_refused(e, "records 7 saved pages, the PAGES sections hold 8");
  e = img_;
  put<uint64_t>(e.secs[kEnd].payload, offsetof(crimg::EndRecord, total_pages), kNpages + 1);
  expect_refused(e, "section 7 (END): counts 9 pages, the PAGES sections hold 8");
  e = img_;
  put<uint32_t>(e.secs[kEnd].payload, 0, 9);
  expect_refused(e, "counts 9 sections before it, the image has 7");
  e = img_;
  put<uint32_t>(e.secs[kProc].payload, offsetof(crimg::ProcessRecord, nthreads), 2);
  expect_refused(e, "section 1 (THREADS): has 1 threads, PROCESS says 2");
  e = img_;
  put<uint32_t>(e.secs[kSig].payload, 0, 63);
  e.secs[kSig].payload.resize(4 + 63 * sizeof(crimg::KSigaction));
  expect_refused(e, "section 2 (SIGNALS): has 63 handlers, not 64");
  e = img_;
  e.secs[kFds].payload += '\0';
  expect_refused(e, "section 3 (FDS): 1 bytes after its records");
}

TEST_P(StructureTest, ThreadsMustMakeSense) {
  EditImage e = img_;
  const size_t flags = 4 + offsetof(crimg::ThreadRecord, flags);
  put<uint32_t>(e.secs[kThr].payload, flags, crimg::kThreadMain);
  expect_refused(e, "0 threads are flagged as libcr's, expected exactly one");
  e = img_;
  const size_t rip = 4 + offsetof(crimg::ThreadRecord, ctx) + offsetof(crimg::JmpContext, rip);
  put<uint64_t>(e.secs[kThr].payload, rip, 0x1234);
  expect_refused(e, "thread 0 (TID 4242) resumes at 0x1234, in no executable region");
}

// Only stored sections can be edited without recompressing them.
TEST_P(StructureTest, RunsInsideTheirRegionAndDisjoint) {
  if (zstd()) GTEST_SKIP() << "run lists of compressed sections are not edited here";
  const uint64_t base = reinterpret_cast<uint64_t>(mem_);
  const size_t run0 = sizeof(crimg::PagesChunkHeader);
  EditImage e = img_;
  // The second section's single page moved onto a page the first one has.
  put<uint64_t>(e.secs[kPages2].payload, run0, base);
  expect_refused(e, "sections 4 and 5 (PAGES) both hold the page at");
  e = img_;
  put<uint64_t>(e.secs[kPages2].payload, run0, base + kNpages * kPage);
  expect_refused(e, "section 5 (PAGES): run 0 (1 pages at");
  expect_refused(e, "outside region 0");
  e = img_;
  put<uint64_t>(e.secs[kPages2].payload, run0, base + 2 * kPage + 8);
  expect_refused(e, "unaligned");
  e = img_;
  put<uint32_t>(e.secs[kPages2].payload, 0, 1);  // region index
  expect_refused(e, "section 5 (PAGES): names region 1, the image has 1");
}

// Finding: a run-length sum could wrap (2^64 + 4096 bytes taken as 4096).
// A region of 2^46 bytes and 2^18 + 1 runs over it: in bytes the runs add
// up to 2^64 + 4096, which is what the section holds modulo 2^64.
TEST_P(StructureTest, RunLengthSumCannotWrap) {
  if (zstd()) GTEST_SKIP() << "run lists of compressed sections are not edited here";
  const uint64_t start = 0x100000000000ull, size = 1ull << 46;
  EditImage e = img_;
  put<uint64_t>(e.secs[kRegs].payload, 4 + offsetof(crimg::RegionRecord, start), start);
  put<uint64_t>(e.secs[kRegs].payload, 4 + offsetof(crimg::RegionRecord, end), start + size);
  const uint32_t nruns = (1u << 18) + 1;
  crimg::PagesChunkHeader ch = {0, nruns, 0, 0};
  ch.data_offset = static_cast<uint32_t>(sizeof ch + nruns * sizeof(crimg::PageRun));
  std::string p(reinterpret_cast<const char*>(&ch), sizeof ch);
  for (uint32_t i = 0; i + 1 < nruns; ++i) {
    crimg::PageRun r = {start, size / kPage};
    p.append(reinterpret_cast<const char*>(&r), sizeof r);
  }
  crimg::PageRun last = {start, 1};
  p.append(reinterpret_cast<const char*>(&last), sizeof last);
  p.append(kPage, 'x');
  e.secs[kPages1].payload = p;
  e.secs.erase(e.secs.begin() + kPages2);
  fix_end(e);
  expect_refused(e, "section 4 (PAGES): holds 4096 bytes of page data, its runs need");
}

// verify_pages (cr_info) and load_chunk (cr_restart) check that a
// compressed section decompresses to exactly its runs' bytes.
TEST_P(StructureTest, PagesMustDecompress) {
  if (!zstd()) GTEST_SKIP() << "stored sections are not compressed";
  EditImage e = img_;
  bool open_ok = false;
  e.secs[kPages1].payload += "junk";
  EXPECT_NE(error_of(e, &open_ok).find("section 4 (PAGES): has bytes after its zstd frame"),
            std::string::npos);
  EXPECT_TRUE(open_ok) << "open() reads only the run list; verify_pages must catch the rest";
  e = img_;
  std::string& p = e.secs[kPages1].payload;
  p.resize(p.size() - 8);
  EXPECT_NE(error_of(e, &open_ok).find("section 4 (PAGES)"), std::string::npos);
  e = img_;
  for (size_t i = p.size() / 2; i < e.secs[kPages1].payload.size(); ++i)
    e.secs[kPages1].payload[i] = static_cast<char>(i * 13);
  EXPECT_NE(error_of(e).find("section 4 (PAGES)"), std::string::npos);
  // The raw size says more than the frame holds.
  e = img_;
  e.secs[kPages1].h.raw_size += kPage;
  EXPECT_NE(error_of(e).find("section 4 (PAGES)"), std::string::npos);
}

TEST_P(StructureTest, OldVersionNamedAsSuch) {
  EditImage e = img_;
  e.fh.version = 1;
  expect_refused(e, "unsupported image version 1 (this build reads version 2)");
}

// Page data of stored sections starts at a page-aligned file offset.
TEST_P(StructureTest, StoredPageDataIsPageAligned) {
  crimg::Image img = crimg::Image::open(path_);
  for (const crimg::ChunkRef& c : img.chunks) {
    if (c.hdr.flags & crimg::kSectionZstd) {
      EXPECT_EQ(c.head.data_offset, sizeof c.head + c.runs.size() * sizeof(crimg::PageRun));
    } else {
      EXPECT_EQ((c.payload_offset + c.head.data_offset) % kPage, 0u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(StoredAndZstd, StructureTest, ::testing::Values(0, 1));

}  // namespace
