// memory_plan_test.cpp -- the restorer's memory planning without touching
// memory (libcr/src/restore/memory.cpp): find_free's staging addresses,
// parse_mappings (the /proc/PID/maps reader behind own_mappings), and
// plan_placement's direct-or-staged decision.  Linked with crrestore.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "state.h"

namespace {

using crrestore::Range;

constexpr uint64_t kBase = 0x100000000000ull;  // the staging base (16 TiB)
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kTop = crimg::kUserAddrTop;

// Distance between [lo, lo+len) and r; 0 when they overlap.
uint64_t gap(uint64_t lo, uint64_t len, const Range& r) {
  if (r.hi <= lo) return lo - r.hi;
  if (r.lo >= lo + len) return r.lo - (lo + len);
  return 0;
}

void expect_clear(uint64_t at, uint64_t len, const std::vector<Range>& busy) {
  EXPECT_GE(at, kBase);
  EXPECT_EQ(at % kMiB, 0u) << std::hex << at;
  EXPECT_LE(at + len, kTop);
  for (const Range& r : busy)
    EXPECT_GE(gap(at, len, r), kMiB) << std::hex << "result " << at << "+" << len << " vs busy "
                                     << r.lo << "-" << r.hi;
}

TEST(FindFree, NothingBusyGivesTheBase) {
  EXPECT_EQ(crrestore::find_free({}, 4096), kBase);
}

TEST(FindFree, RangesFarBelowOrAboveAreIgnored) {
  const std::vector<Range> busy = {{0x400000, 0x500000}, {0x7ff000000000, 0x7ff000100000}};
  EXPECT_EQ(crrestore::find_free(busy, 64 * kMiB), kBase);
}

TEST(FindFree, KeepsAGuardAfterARangeEndingJustBelowTheBase) {
  // Ends half a MiB below the base: the base itself is too close.
  const std::vector<Range> busy = {{kBase - 4 * kMiB, kBase - kMiB / 2}};
  const uint64_t at = crrestore::find_free(busy, 4096);
  EXPECT_EQ(at, kBase + kMiB);
  expect_clear(at, 4096, busy);
}

TEST(FindFree, KeepsAGuardBeforeARangeJustAboveTheCandidate) {
  // Starts half a MiB after the end of a 1 MiB range at the base.
  const std::vector<Range> busy = {{kBase + kMiB + kMiB / 2, kBase + 2 * kMiB}};
  const uint64_t at = crrestore::find_free(busy, kMiB);
  EXPECT_EQ(at, kBase + 3 * kMiB);
  expect_clear(at, kMiB, busy);
}

TEST(FindFree, UnalignedEndIsRoundedUpToAMiB) {
  const std::vector<Range> busy = {{kBase, kBase + 0x1234000}};
  const uint64_t at = crrestore::find_free(busy, 4096);
  EXPECT_EQ(at, (kBase + 0x1234000 + kMiB + kMiB - 1) & ~(kMiB - 1));
  expect_clear(at, 4096, busy);
}

TEST(FindFree, SkipsAGapTooSmallForTheLength) {
  // A 4 MiB hole between two ranges: room for 1 MiB with guards, not 8 MiB.
  const std::vector<Range> busy = {{kBase, kBase + kMiB}, {kBase + 5 * kMiB, kBase + 6 * kMiB}};
  EXPECT_EQ(crrestore::find_free(busy, kMiB), kBase + 2 * kMiB);
  const uint64_t at = crrestore::find_free(busy, 8 * kMiB);
  EXPECT_EQ(at, kBase + 7 * kMiB);
  expect_clear(at, 8 * kMiB, busy);
}

TEST(FindFree, OrderOfTheBusyListDoesNotMatter) {
  std::vector<Range> busy = {{kBase + 10 * kMiB, kBase + 12 * kMiB},
                             {kBase, kBase + 2 * kMiB},
                             {kBase + 4 * kMiB, kBase + 7 * kMiB}};
  const uint64_t at = crrestore::find_free(busy, 2 * kMiB);
  std::reverse(busy.begin(), busy.end());
  EXPECT_EQ(crrestore::find_free(busy, 2 * kMiB), at);
  std::sort(busy.begin(), busy.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  EXPECT_EQ(crrestore::find_free(busy, 2 * kMiB), at);
  expect_clear(at, 2 * kMiB, busy);
  EXPECT_EQ(at, kBase + 13 * kMiB);
}

TEST(FindFree, OverlappingBusyRanges) {
  const std::vector<Range> busy = {{kBase, kBase + 8 * kMiB}, {kBase + 2 * kMiB, kBase + 3 * kMiB}};
  const uint64_t at = crrestore::find_free(busy, kMiB);
  EXPECT_EQ(at, kBase + 9 * kMiB);
  expect_clear(at, kMiB, busy);
}

TEST(FindFree, NoRoomBelowTheUserTopThrows) {
  EXPECT_THROW(crrestore::find_free({{kBase - kMiB, kTop}}, 4096), crrestore::RestoreError);
  EXPECT_THROW(crrestore::find_free({}, kTop), crrestore::RestoreError);
  // The last MiB-aligned place that still fits.
  const uint64_t last = (kTop & ~(kMiB - 1)) - kMiB;
  EXPECT_EQ(crrestore::find_free({{kBase, last - kMiB}}, kMiB), last);
  EXPECT_THROW(crrestore::find_free({{kBase, last - kMiB + 1}}, kMiB), crrestore::RestoreError);
}

TEST(FindFree, RandomLayoutsAlwaysGiveAClearRange) {
  std::mt19937_64 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    std::vector<Range> busy;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      const uint64_t lo = kBase - 64 * kMiB + (rng() % (512 * kMiB) & ~0xfffull);
      busy.push_back({lo, lo + 4096 + (rng() % (16 * kMiB) & ~0xfffull)});
    }
    const uint64_t len = 4096 + (rng() % (32 * kMiB) & ~0xfffull);
    const uint64_t at = crrestore::find_free(busy, len);
    expect_clear(at, len, busy);
    if (HasFailure()) {
      ADD_FAILURE() << "round " << round;
      return;
    }
  }
}

// parse_mappings: /proc/PID/maps lines, as the kernel writes them.
TEST(ParseMappings, ReadsRangesSortedAndDropsWhatIsAboveTheUserTop) {
  std::istringstream maps(
      "7ffd5e7f0000-7ffd5e811000 rw-p 00000000 00:00 0                          [stack]\n"
      "55d0c6a00000-55d0c6a21000 r--p 00000000 08:01 1234                       /usr/bin/cr_restart\n"
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n"
      "7f11c2000000-7f11c2022000 rw-p 00000000 00:00 0 \n"
      "55d0c8000000-55d0c8021000 rw-p 00000000 00:00 0                          [heap]\n");
  const std::vector<Range> v = crrestore::parse_mappings(maps);
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0].lo, 0x55d0c6a00000u);
  EXPECT_EQ(v[0].hi, 0x55d0c6a21000u);
  EXPECT_EQ(v[1].lo, 0x55d0c8000000u);
  EXPECT_EQ(v[2].lo, 0x7f11c2000000u);
  EXPECT_EQ(v[2].hi, 0x7f11c2022000u);
  EXPECT_EQ(v[3].lo, 0x7ffd5e7f0000u);
  EXPECT_EQ(v[3].hi, 0x7ffd5e811000u);
}

TEST(ParseMappings, IgnoresLinesThatAreNotRanges) {
  std::istringstream maps("\nnot a mapping\n1000-2000 r--p 0 0:0 0\n-\n");
  const std::vector<Range> v = crrestore::parse_mappings(maps);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].lo, 0x1000u);
  EXPECT_EQ(v[0].hi, 0x2000u);
  std::istringstream empty("");
  EXPECT_TRUE(crrestore::parse_mappings(empty).empty());
}

TEST(ParseMappings, OwnMappingsHoldThisStackAndCode) {
  const std::vector<Range> v = crrestore::own_mappings();
  int local = 0;
  auto holds = [&](uint64_t a) {
    for (const Range& r : v)
      if (r.lo <= a && a < r.hi) return true;
    return false;
  };
  EXPECT_TRUE(holds(reinterpret_cast<uint64_t>(&local)));
  EXPECT_TRUE(holds(reinterpret_cast<uint64_t>(&crrestore::find_free)));
  for (size_t i = 1; i < v.size(); ++i) EXPECT_LE(v[i - 1].hi, v[i].lo);
}

// plan_placement: direct or staged.
crimg::RegionInfo region(uint64_t lo, uint64_t hi, uint32_t kind = crimg::kRegAnon,
                         const char* path = "") {
  crimg::RegionInfo r;
  r.rec.start = lo;
  r.rec.end = hi;
  r.rec.kind = kind;
  r.rec.prot = PROT_READ | PROT_WRITE;
  r.path = path;
  return r;
}

TEST(PlanPlacement, DirectUnlessItCollidesOrCannotBeReserved) {
  const std::vector<crimg::RegionInfo> regions = {
      region(0x400000, 0x600000),                                       // clear: direct
      region(0x10000000, 0x10400000),                                   // overlaps ours: staged
      region(0x20000000, 0x20010000),                                   // reserve fails: staged
      region(0x7ffff7fc0000, 0x7ffff7fc4000, crimg::kRegSpecial, "[vvar]"),  // never placed
      region(0x7ffff7fc4000, 0x7ffff7fc6000, crimg::kRegSpecial, "[vdso]"),
  };
  const std::vector<Range> current = {{0x10300000, 0x10500000}, {0x7ffff7000000, 0x7ffff7100000}};
  std::vector<Range> asked;
  const auto place = crrestore::plan_placement(regions, current, [&](const Range& r) {
    asked.push_back(r);
    return r.lo != 0x20000000;
  });
  ASSERT_EQ(place.size(), regions.size());
  EXPECT_FALSE(place[0].staged);
  EXPECT_EQ(place[0].staging, 0u);
  EXPECT_TRUE(place[1].staged);
  EXPECT_TRUE(place[2].staged);
  EXPECT_FALSE(place[3].staged);
  EXPECT_FALSE(place[4].staged);
  // Only regions clear of our mappings are reserved, each at its own range.
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0].lo, 0x400000u);
  EXPECT_EQ(asked[0].hi, 0x600000u);
  EXPECT_EQ(asked[1].lo, 0x20000000u);
  EXPECT_EQ(asked[1].hi, 0x20010000u);
}

TEST(PlanPlacement, StagingAddressesAvoidBothLayoutsAndEachOther) {
  // Every region collides with our own layout (as with ASLR off), and the
  // image has regions inside the staging area too.
  std::vector<crimg::RegionInfo> regions;
  std::vector<Range> current;
  for (int i = 0; i < 12; ++i) {
    const uint64_t lo = 0x555555554000ull + i * 0x200000ull;
    regions.push_back(region(lo, lo + 0x1000ull * (i + 1) * 37));
    current.push_back({lo, lo + 0x1000});
  }
  regions.push_back(region(kBase, kBase + 3 * kMiB));
  regions.push_back(region(kBase + 5 * kMiB, kBase + 6 * kMiB));
  current.push_back({kBase + 8 * kMiB, kBase + 9 * kMiB});
  regions.push_back(region(0xffffffffff600000ull, 0xffffffffff601000ull, crimg::kRegSpecial,
                           "[vsyscall]"));
  int reserved = 0;
  const auto place = crrestore::plan_placement(regions, current, [&](const Range& r) {
    ++reserved;
    return r.lo == kBase || r.lo == kBase + 5 * kMiB;  // the two at the staging base
  });
  EXPECT_EQ(reserved, 2);
  std::vector<Range> busy = current;
  for (const crimg::RegionInfo& r : regions)
    if (r.rec.kind != crimg::kRegSpecial) busy.push_back({r.rec.start, r.rec.end});
  std::vector<Range> staged;
  for (size_t i = 0; i < regions.size(); ++i) {
    if (regions[i].rec.kind == crimg::kRegSpecial) continue;
    const bool want = i < 12;  // those that collide with ours
    EXPECT_EQ(place[i].staged, want) << "region " << i;
    if (!place[i].staged) continue;
    const uint64_t len = regions[i].rec.end - regions[i].rec.start;
    expect_clear(place[i].staging, len, busy);
    for (const Range& s : staged) EXPECT_GE(gap(place[i].staging, len, s), kMiB) << "region " << i;
    staged.push_back({place[i].staging, place[i].staging + len});
  }
  EXPECT_EQ(staged.size(), 12u);
}

TEST(PlanPlacement, NoRoomToStageThrows) {
  const std::vector<crimg::RegionInfo> regions = {region(0x400000, 0x500000),
                                                  region(kBase - kMiB, kTop)};
  EXPECT_THROW(crrestore::plan_placement(regions, {{0x400000, 0x401000}},
                                         [](const Range&) { return true; }),
               crrestore::RestoreError);
}

}  // namespace
