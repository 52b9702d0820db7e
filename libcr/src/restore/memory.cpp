// memory.cpp (restore side) -- put every region back at its address.
//
// Algorithm:
//   Regions that do not overlap anything cr_restart has mapped are reserved
//   at once (PROT_NONE, MAP_FIXED_NOREPLACE) and later mapped in place.  The
//   others ("staged") are built the same way at a free staging address that
//   collides with neither layout; the blob mremaps them into place after it
//   has unmapped cr_restart.  mremap keeps a mapping's kind, file, offset
//   and private copies, so a staged region is exactly what it would have
//   been in place.  Pages are read straight into their final mapping and
//   verified against the section checksum before the point of no return.
//   [vdso] and [vvar*] are not restored: the kernel's current ones are moved
//   to the addresses the image's code expects (sizes must match).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

#include "state.h"

namespace crrestore {
namespace {

constexpr uint64_t kStagingBase = 0x100000000000ull;  // 16 TiB
constexpr uint64_t kUserTop = crimg::kUserAddrTop;  // crmpi/image.h

bool is_vsyscall(const crimg::RegionInfo& r) {
  return r.path == "[vsyscall]";
}

std::vector<Range> sorted(std::vector<Range> v) {
  std::sort(v.begin(), v.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  return v;
}

bool overlaps(const std::vector<Range>& v, uint64_t lo, uint64_t hi) {
  for (const Range& r : v)
    if (r.lo < hi && r.hi > lo) return true;
  return false;
}

int open_for(State& s, const crimg::RegionInfo& r) {
  int flags =
      (r.rec.kind == crimg::kRegFileShared && (r.rec.prot & PROT_WRITE)) ? O_RDWR : O_RDONLY;
  return open_no_block(s, r.path, flags, S_IFREG, "mapped file " + r.path);
}

struct NamedRange {
  std::string name;
  Range r;
};

std::vector<NamedRange> own_specials() {
  std::vector<NamedRange> out;
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line)) {
    size_t br = line.find('[');
    if (br == std::string::npos) continue;
    std::string name = line.substr(br);
    if (name != "[vdso]" && name.rfind("[vvar", 0) != 0) continue;
    unsigned long lo, hi;
    if (sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2) out.push_back({name, {lo, hi}});
  }
  return out;
}

}  // namespace

std::vector<Range> parse_mappings(std::istream& in) {
  std::vector<Range> v;
  std::string line;
  while (std::getline(in, line)) {
    unsigned long lo, hi;
    if (sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && lo < kUserTop) v.push_back({lo, hi});
  }
  return sorted(v);
}

std::vector<Range> own_mappings() {
  std::ifstream in("/proc/self/maps");
  return parse_mappings(in);
}

uint64_t find_free(const std::vector<Range>& busy_in, uint64_t len) {
  const std::vector<Range> busy = sorted(busy_in);
  const uint64_t guard = 1 << 20;
  uint64_t cand = kStagingBase;
  for (const Range& r : busy) {
    if (r.hi + guard <= cand) continue;
    if (r.lo >= cand + len + guard) break;
    cand = std::max<uint64_t>(cand, (r.hi + guard + 0xfffff) & ~0xfffffull);
  }
  if (cand + len > kUserTop) throw RestoreError("no free address range for the restorer");
  return cand;
}

char* State::where(size_t r, uint64_t addr) const {
  const crimg::RegionInfo& reg = img.regions[r];
  return reinterpret_cast<char*>(place[r].staged ? place[r].staging + (addr - reg.rec.start)
                                                 : addr);
}

void State::fail(const std::string& what) const {
  throw RestoreError(img.path + ": " + what);
}

// Regions are created writable to be filled, except unreadable ones with
// no saved page, which are created as they are.
int initial_prot(const crimg::RegionRecord& r) {
  return r.prot == PROT_NONE && r.saved_pages == 0 ? PROT_NONE : PROT_READ | PROT_WRITE;
}

void check_files(State& s) {
  for (const crimg::RegionInfo& r : s.img.regions) {
    if (r.rec.kind != crimg::kRegFilePrivate && r.rec.kind != crimg::kRegFileShared) continue;
    if (!check_type(s, r.path, S_IFREG, "mapped file " + r.path))
      s.fail("mapped file " + r.path + " is missing: " + strerror(errno));
    struct stat st;
    if (stat(r.path.c_str(), &st) != 0) {
      s.fail("mapped file " + r.path + " is missing: " + strerror(errno));
    }
    const int64_t mt = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    const bool relocated = r.rec.ino == 0;
    if (static_cast<uint64_t>(st.st_size) != r.rec.file_size ||
        (!relocated && (st.st_ino != r.rec.ino || mt != r.rec.mtime_ns))) {
      s.fail("mapped file " + r.path + " has changed since the checkpoint");
    }
  }
}

std::vector<Placement> plan_placement(const std::vector<crimg::RegionInfo>& regions,
                                      const std::vector<Range>& current,
                                      const std::function<bool(const Range&)>& reserve) {
  const size_t n = regions.size();
  std::vector<Placement> place(n);
  std::vector<Range> target;
  for (const crimg::RegionInfo& r : regions)
    if (!is_vsyscall(r)) target.push_back({r.rec.start, r.rec.end});
  for (size_t i = 0; i < n; ++i) {
    const crimg::RegionRecord& r = regions[i].rec;
    if (r.kind == crimg::kRegSpecial) continue;
    place[i].staged = overlaps(current, r.start, r.end) || !reserve({r.start, r.end});
  }
  // Staging addresses avoid both layouts (the reservations just made lie
  // inside the target's ranges).
  std::vector<Range> busy = current;
  busy.insert(busy.end(), target.begin(), target.end());
  for (size_t i = 0; i < n; ++i) {
    if (!place[i].staged) continue;
    const crimg::RegionRecord& r = regions[i].rec;
    place[i].staging = find_free(busy, r.end - r.start);
    busy.push_back({place[i].staging, place[i].staging + (r.end - r.start)});
  }
  return place;
}

void plan_memory(State& s) {
  for (const crimg::RegionInfo& r : s.img.regions)
    if (r.rec.kind != crimg::kRegSpecial && r.rec.end > kUserTop)
      s.fail("region above the user address space");
  s.current = own_mappings();
  // Reserve a direct region at its own address; staged if that fails.
  s.place = plan_placement(s.img.regions, s.current, [](const Range& r) {
    return mmap(reinterpret_cast<void*>(r.lo), r.hi - r.lo, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1,
                0) != MAP_FAILED;
  });
}

void map_regions(State& s) {
  for (size_t i = 0; i < s.img.regions.size(); ++i) {
    const crimg::RegionInfo& ri = s.img.regions[i];
    const crimg::RegionRecord& r = ri.rec;
    if (r.kind == crimg::kRegSpecial) continue;
    void* addr = s.where(i, r.start);
    const size_t len = r.end - r.start;
    const int fixed = s.place[i].staged ? MAP_FIXED_NOREPLACE : MAP_FIXED;
    const int rw = initial_prot(r);
    void* p = MAP_FAILED;
    int fd = -1;
    switch (r.kind) {
      case crimg::kRegAnon:
        p = mmap(addr, len, rw,
                 MAP_PRIVATE | MAP_ANONYMOUS | fixed |
                     ((r.flags & crimg::kRegGrowsDown) ? MAP_GROWSDOWN : 0),
                 -1, 0);
        break;
      case crimg::kRegSharedAnon:
        p = mmap(addr, len, rw, MAP_SHARED | MAP_ANONYMOUS | fixed, -1, 0);
        break;
      case crimg::kRegFilePrivate:
      case crimg::kRegFileShared:
        fd = open_for(s, ri);
        if (fd < 0) s.fail("cannot open mapped file " + ri.path + ": " + strerror(errno));
        p = mmap(addr, len, r.kind == crimg::kRegFileShared ? static_cast<int>(r.prot) : rw,
                 (r.kind == crimg::kRegFileShared ? MAP_SHARED : MAP_PRIVATE) | fixed, fd,
                 static_cast<off_t>(r.file_offset));
        close(fd);
        break;
      default:
        s.fail("region of unknown kind " + std::to_string(r.kind));
    }
    if (p == MAP_FAILED || p != addr) {
      char buf[64];
      snprintf(buf, sizeof buf, "%#lx-%#lx", static_cast<unsigned long>(r.start),
               static_cast<unsigned long>(r.end));
      s.fail(std::string("cannot map region ") + buf + " (" + ri.path + "): " + strerror(errno));
    }
  }
}

void load_pages(State& s) {
  // Regions are in address order (from smaps); find a run's region by address.
  std::vector<size_t> order(s.img.regions.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return s.img.regions[a].rec.start < s.img.regions[b].rec.start;
  });
  auto dest = [&](uint64_t addr, uint64_t len) -> char* {
    auto it = std::upper_bound(order.begin(), order.end(), addr, [&](uint64_t a, size_t idx) {
      return a < s.img.regions[idx].rec.start;
    });
    if (it == order.begin()) s.fail("corrupt image: page outside every region");
    size_t r = *(it - 1);
    const crimg::RegionRecord& reg = s.img.regions[r].rec;
    if (addr + len > reg.end || reg.kind == crimg::kRegSpecial ||
        reg.kind == crimg::kRegFileShared || initial_prot(reg) == PROT_NONE) {
      s.fail("corrupt image: page run does not fit its region");
    }
    // Fault the run in with one call: a page fault per 4 KiB inside read()
    // costs more than the copy on virtual machines.
    char* d = s.where(r, addr);
    madvise(d, len, MADV_POPULATE_WRITE);
    return d;
  };
  for (const crimg::ChunkRef& c : s.img.chunks) s.img.load_chunk(c, dest);
}

void protect_regions(State& s) {
  for (size_t i = 0; i < s.img.regions.size(); ++i) {
    const crimg::RegionRecord& r = s.img.regions[i].rec;
    if (r.kind == crimg::kRegSpecial || r.kind == crimg::kRegFileShared) continue;
    if (static_cast<int>(r.prot) == initial_prot(r)) continue;
    if (mprotect(s.where(i, r.start), r.end - r.start, static_cast<int>(r.prot)) != 0) {
      s.fail("cannot set protection of region " + s.img.regions[i].path + ": " + strerror(errno));
    }
  }
}

void plan_specials(State& s) {
  // Match the kernel's special mappings to the image's by name.
  std::vector<NamedRange> cur = own_specials();
  std::vector<Range> busy = own_mappings();
  for (const crimg::RegionInfo& r : s.img.regions) busy.push_back({r.rec.start, r.rec.end});
  for (size_t i = 0; i < s.img.regions.size(); ++i)
    if (s.place[i].staged)
      busy.push_back({s.place[i].staging,
                      s.place[i].staging + s.img.regions[i].rec.end - s.img.regions[i].rec.start});
  std::vector<crb_op> to_temp, to_final;
  for (const crimg::RegionInfo& r : s.img.regions) {
    if (r.rec.kind != crimg::kRegSpecial || is_vsyscall(r)) continue;
    auto it =
        std::find_if(cur.begin(), cur.end(), [&](const NamedRange& c) { return c.name == r.path; });
    if (it == cur.end())
      s.fail("this kernel has no " + r.path +
             " mapping; restart on the kernel that took the checkpoint");
    const uint64_t len = r.rec.end - r.rec.start;
    if (it->r.hi - it->r.lo != len) {
      s.fail(r.path +
             " differs in size from the checkpointed kernel's; restart on the kernel that took the "
             "checkpoint");
    }
    const uint64_t temp = find_free(busy, len);
    busy.push_back({temp, temp + len});
    s.avoid.push_back({temp, temp + len});
    to_temp.push_back({CRB_MREMAP, 0, it->r.lo, len, temp});
    to_final.push_back({CRB_MREMAP, 0, temp, len, r.rec.start});
    s.keep.push_back(it->r);
    cur.erase(it);
  }
  // A special mapping the image did not have would be left at a random
  // address, where it may sit on target memory: unmap it (none expected).
  for (const NamedRange& c : cur)
    s.warnings.push_back("dropping " + c.name + " not present in the image");
  s.ops.insert(s.ops.end(), to_temp.begin(), to_temp.end());
  s.ops.insert(s.ops.end(), to_final.begin(), to_final.end());
}

}  // namespace crrestore
