// validate.cpp -- the cross-checks Image::open() runs once every section has
// been read.  Whatever one part of an image says about another must hold:
// the restart acts on these numbers after it has started replacing the
// calling process, so an image that disagrees with itself is refused here,
// with the section and the disagreement named, before anything is touched.
#include <stdio.h>

#include <algorithm>

#include "reader.h"

namespace crimg {
namespace {

std::string hex(uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "%#llx", static_cast<unsigned long long>(v));
  return b;
}

bool has_nul(const std::string& s) {
  return s.find('\0') != std::string::npos;
}

bool is_abs_path(const std::string& s) {
  return !s.empty() && s[0] == '/' && !has_nul(s);
}

// acc += v; false if the sum does not fit in 64 bits.
bool add_ok(uint64_t& acc, uint64_t v) {
  return !__builtin_add_overflow(acc, v, &acc);
}

const SectionHeader& section_of(const std::vector<SectionHeader>& v, uint32_t type) {
  return *std::find_if(v.begin(), v.end(), [&](const SectionHeader& h) { return h.type == type; });
}

std::string region_text(const std::vector<RegionInfo>& regions, size_t i) {
  const RegionInfo& r = regions[i];
  return "region " + std::to_string(i) + " (" + hex(r.rec.start) + "-" + hex(r.rec.end) +
         (r.path.empty() ? "" : " " + r.path) + ")";
}

// The region holding @addr, or nullptr; @regions is sorted and disjoint.
const RegionRecord* region_at(const std::vector<RegionInfo>& regions, uint64_t addr) {
  auto it = std::upper_bound(regions.begin(), regions.end(), addr,
                             [](uint64_t a, const RegionInfo& r) { return a < r.rec.start; });
  if (it == regions.begin()) return nullptr;
  const RegionRecord& r = (it - 1)->rec;
  return addr < r.end ? &r : nullptr;
}

}  // namespace

void Image::validate() const {
  // open() reached END only after PROCESS, THREADS, SIGNALS, FDS and
  // REGIONS, in that order, each once (check_section_header).
  const SectionHeader& eh = sections.back();
  if (end.nsections != sections.size() - 1 || end.reserved != 0) {
    fail_in(eh, "counts " + std::to_string(end.nsections) + " sections before it, the image has " +
                    std::to_string(sections.size() - 1));
  }
  validate_regions();  // first: the others look addresses up in them
  validate_pages();
  validate_threads();
  validate_fds();
}

void Image::validate_regions() const {
  const SectionHeader& h = section_of(sections, kSecRegions);
  const uint64_t page = header.page_size;
  if (regions.empty()) fail_in(h, "no regions");
  for (size_t i = 0; i < regions.size(); ++i) {
    const RegionRecord& r = regions[i].rec;
    const std::string what = region_text(regions, i);
    if (r.end <= r.start || (r.start | r.end) % page) fail_in(h, what + " has bad bounds");
    if (i && r.start < regions[i - 1].rec.end)
      fail_in(h, what + " overlaps or precedes " + region_text(regions, i - 1));
    if (r.kind < kRegAnon || r.kind > kRegSpecial)
      fail_in(h, what + " has unknown kind " + std::to_string(r.kind));
    if ((r.prot & ~7u) || (r.flags & ~(kRegGrowsDown | kRegHeap | kRegStack)) || r.reserved)
      fail_in(h, what + " has unknown protection or flag bits");
    if (r.kind != kRegSpecial && r.end > kUserAddrTop)
      fail_in(h, what + " lies above the user address space");
    if (has_nul(regions[i].path)) fail_in(h, what + " has a NUL byte in its path");
    if ((r.kind == kRegFilePrivate || r.kind == kRegFileShared) && !is_abs_path(regions[i].path))
      fail_in(h, what + " maps a file but has no absolute path");
    if ((r.kind == kRegSpecial || r.kind == kRegFileShared) && r.saved_pages)
      fail_in(h, what + " is " + region_kind_name(r.kind) + " but records saved pages");
    if (r.saved_pages > (r.end - r.start) / page)
      fail_in(h, what + " records " + std::to_string(r.saved_pages) +
                     " saved pages, more than it has");
  }
}

void Image::validate_threads() const {
  const SectionHeader& hp = section_of(sections, kSecProcess);
  const SectionHeader& h = section_of(sections, kSecThreads);
  const ProcessRecord& p = process.rec;
  if (p.pid == 0 || p.main_tid == 0) fail_in(hp, "no PID or main TID");
  if (has_nul(process.cwd) || has_nul(process.exe)) fail_in(hp, "NUL byte in cwd or exe path");
  if (threads.empty()) fail_in(h, "no threads");
  if (p.nthreads != threads.size()) {
    fail_in(h, "has " + std::to_string(threads.size()) + " threads, PROCESS says " +
                   std::to_string(p.nthreads));
  }
  if (p.mailbox_addr) {
    const RegionRecord* r = region_at(regions, p.mailbox_addr);
    if (!r || !(r->prot & 2 /* PROT_WRITE */))
      fail_in(hp, "restore mailbox " + hex(p.mailbox_addr) + " is in no writable region");
  }
  // The main thread may have exited (pthread_exit): at most one is flagged
  // main, and the restart then puts libcr's thread on the leader.
  int mains = 0, managers = 0;
  std::vector<uint32_t> tids;
  for (size_t i = 0; i < threads.size(); ++i) {
    const ThreadRecord& t = threads[i].rec;
    const std::string what = "thread " + std::to_string(i) + " (TID " + std::to_string(t.tid) + ")";
    if (t.tid == 0 || (t.flags & ~(kThreadMain | kThreadManager)))
      fail_in(h, what + " has no TID or unknown flags");
    const bool main = t.flags & kThreadMain;
    mains += main;
    managers += (t.flags & kThreadManager) != 0;
    if (main != (t.tid == p.main_tid)) {
      fail_in(h, what + (main ? " is flagged main but is not TID " : " is not flagged main but is TID ") +
                     std::to_string(p.main_tid));
    }
    // Where the restorer will jump: code of the image, on a stack of it.
    const RegionRecord* code = region_at(regions, t.ctx.rip);
    const RegionRecord* stack = region_at(regions, t.ctx.rsp);
    if (!code || !(code->prot & 4 /* PROT_EXEC */))
      fail_in(h, what + " resumes at " + hex(t.ctx.rip) + ", in no executable region");
    if (!stack || !(stack->prot & 2 /* PROT_WRITE */))
      fail_in(h, what + " has its stack at " + hex(t.ctx.rsp) + ", in no writable region");
    tids.push_back(t.tid);
  }
  if (mains > 1) fail_in(h, std::to_string(mains) + " threads are flagged main");
  if (managers != 1)
    fail_in(h, std::to_string(managers) + " threads are flagged as libcr's, expected exactly one");
  std::sort(tids.begin(), tids.end());
  auto dup = std::adjacent_find(tids.begin(), tids.end());
  if (dup != tids.end()) fail_in(h, "TID " + std::to_string(*dup) + " appears twice");
}

void Image::validate_fds() const {
  const SectionHeader& h = section_of(sections, kSecFds);
  std::vector<int32_t> nums;
  for (const FdInfo& f : fds) {
    const FdRecord& r = f.rec;
    const std::string what = "fd " + std::to_string(r.fd);
    if (r.fd < 0 || r.fd >= static_cast<int32_t>(kMaxFds)) fail_in(h, what + " is out of range");
    if (r.kind < kFdFile || r.kind > kFdDeleted)
      fail_in(h, what + " has unknown kind " + std::to_string(r.kind));
    if (r.kind == kFdStdio && r.fd > 2) fail_in(h, what + " is recorded as stdio");
    if (!f.data.empty() && r.kind != kFdPipe && r.kind != kFdDeleted)
      fail_in(h, what + " (" + fd_kind_name(r.kind) + ") carries data");
    if (f.data.size() > kMaxDeletedFileBytes) fail_in(h, what + " carries too much data");
    if (has_nul(f.path)) fail_in(h, what + " has a NUL byte in its path");
    const bool by_path = r.kind == kFdFile || r.kind == kFdDir || r.kind == kFdDevice ||
                         r.kind == kFdDeleted;
    if (by_path && !is_abs_path(f.path)) fail_in(h, what + " has no absolute path");
    nums.push_back(r.fd);
  }
  std::sort(nums.begin(), nums.end());
  auto dup = std::adjacent_find(nums.begin(), nums.end());
  if (dup != nums.end()) fail_in(h, "fd " + std::to_string(*dup) + " appears twice");
}

// Algorithm: every run is checked against its region (aligned, inside,
// non-empty) and added, overflow-checked, to its section's, its region's
// and the image's page counts; a section's data size must be exactly its
// runs' pages.  All runs are then sorted by address: neighbours must not
// overlap (two runs for one page would make the restored bytes depend on
// the section order).  Finally every region's saved_pages and END's total
// must equal the counts found.
void Image::validate_pages() const {
  const uint64_t page = header.page_size;
  struct Span {
    uint64_t lo, hi;
    uint32_t section;
  };
  std::vector<Span> spans;
  std::vector<uint64_t> per_region(regions.size(), 0);
  uint64_t total = 0;
  for (const ChunkRef& c : chunks) {
    const SectionHeader& h = c.hdr;
    const PagesChunkHeader& ch = c.head;
    if (ch.reserved) fail_in(h, "reserved field set");
    if (ch.region_index >= regions.size()) {
      fail_in(h, "names region " + std::to_string(ch.region_index) + ", the image has " +
                     std::to_string(regions.size()));
    }
    const RegionRecord& r = regions[ch.region_index].rec;
    const std::string rtext = region_text(regions, ch.region_index);
    if (r.kind == kRegSpecial || r.kind == kRegFileShared)
      fail_in(h, "holds pages of " + rtext + ", whose kind keeps none");
    const uint64_t list = sizeof ch + c.runs.size() * sizeof(PageRun);
    const uint64_t max_pad = (h.flags & kSectionZstd) ? 0 : page - 1;
    if (ch.data_offset < list || ch.data_offset - list > max_pad || ch.data_offset > h.raw_size)
      fail_in(h, "bad data offset " + std::to_string(ch.data_offset));
    uint64_t pages = 0;
    for (size_t k = 0; k < c.runs.size(); ++k) {
      const PageRun& run = c.runs[k];
      if (run.npages == 0 || run.addr % page || run.addr < r.start || run.addr >= r.end ||
          run.npages > (r.end - run.addr) / page) {
        fail_in(h, "run " + std::to_string(k) + " (" + std::to_string(run.npages) +
                       " pages at " + hex(run.addr) + ") is empty, unaligned or outside " + rtext);
      }
      if (!add_ok(pages, run.npages)) fail_in(h, "page count overflows");
      spans.push_back({run.addr, run.addr + run.npages * page, h.index});
    }
    const uint64_t data = h.raw_size - ch.data_offset;
    if (pages > data / page || pages * page != data) {
      fail_in(h, "holds " + std::to_string(data) + " bytes of page data, its runs need " +
                     std::to_string(pages) + " pages");
    }
    if (!add_ok(per_region[ch.region_index], pages) || !add_ok(total, pages))
      fail_in(h, "page count overflows");
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.lo != b.lo ? a.lo < b.lo : a.section < b.section;
  });
  for (size_t k = 1; k < spans.size(); ++k) {
    if (spans[k].lo < spans[k - 1].hi) {
      fail("corrupt image: sections " + std::to_string(spans[k - 1].section) + " and " +
           std::to_string(spans[k].section) + " (PAGES) both hold the page at " +
           hex(spans[k].lo));
    }
  }
  const SectionHeader& hr = section_of(sections, kSecRegions);
  for (size_t i = 0; i < regions.size(); ++i) {
    if (per_region[i] != regions[i].rec.saved_pages) {
      fail_in(hr, region_text(regions, i) + " records " +
                      std::to_string(regions[i].rec.saved_pages) +
                      " saved pages, the PAGES sections hold " + std::to_string(per_region[i]));
    }
  }
  if (end.total_pages != total) {
    fail_in(sections.back(), "counts " + std::to_string(end.total_pages) +
                                 " pages, the PAGES sections hold " + std::to_string(total));
  }
}

}  // namespace crimg
