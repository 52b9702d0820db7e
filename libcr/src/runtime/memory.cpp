// memory.cpp -- memory regions and their pages.
//
// Everything is read through /proc/thread-self: /proc/self stops giving
// memory information once the main thread has called pthread_exit.
//
// Algorithm:
//   1. Read /proc/thread-self/smaps whole (into scratch memory; no malloc) and
//      parse each VMA: range, protection, private/shared, file identity,
//      name, and the "gd" (grows-down) VmFlag.
//   2. Classify: [vdso]/[vvar]/[vvar_vclock]/[vsyscall] are special (never
//      saved, moved by the restorer); anonymous private memory; private file
//      mappings; shared file mappings (the file holds the data); shared
//      anonymous memory (memfd, /dev/zero, deleted shm), whose pages are
//      saved.  libcr's scratch range and the ranges the application
//      excluded (cr_exclude_memory) are cut out of whatever VMAs hold them.
//   3. For each readable region that needs pages, read its pagemap entries
//      in batches and pick the pages to save:
//        anonymous: present or swapped, and not all zero;
//        anonymous that was a file now deleted or replaced: every page that
//          is not all zero (untouched pages held the old file's data);
//        shared anonymous: present, swapped, or resident per mincore() (it
//          may have been written through another mapping), and not zero;
//        private file mapping: pages that are no longer the file's page
//          (present without the file-page bit, or swapped) -- unmodified
//          pages are referenced through the file instead of copied.
//      Consecutive picked pages form runs; runs are written in PAGES
//      sections of at most 4 MiB.  The writer copies every section before
//      hashing it (shared memory, the writer's own stack and libcr's data
//      change while they are written), so the image checks whatever memory
//      does.
//   4. Write the REGIONS section last, with the count of pages saved per
//      region.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

namespace crrt {
namespace {

constexpr uint64_t kPresent = 1ull << 63;
constexpr uint64_t kSwapped = 1ull << 62;
constexpr uint64_t kFilePage = 1ull << 61;
constexpr uint64_t kChunkBytes = 4ull << 20;
constexpr uint32_t kMaxRuns = 8192;
constexpr size_t kBatchPages = 4096;

struct Vma {
  uint64_t start, end, offset, ino;
  uint32_t prot;
  bool shared, growsdown;
  unsigned dev_major, dev_minor;
  const char* name;  // NUL-terminated inside the smaps buffer
};

bool is_zero_page(const void* p, size_t len) {
  const uint64_t* w = static_cast<const uint64_t*>(p);
  if (w[0] | w[len / 16] | w[len / 8 - 1]) return false;  // cheap early exits
  uint64_t acc = 0;
  for (size_t i = 0; i < len / 8; i += 8)
    acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
  return acc == 0;
}

uint64_t hex(const char*& s) {
  uint64_t v = 0;
  for (;; ++s) {
    char c = *s;
    if (c >= '0' && c <= '9')
      v = v * 16 + (c - '0');
    else if (c >= 'a' && c <= 'f')
      v = v * 16 + (c - 'a' + 10);
    else
      return v;
  }
}

// Parses one smaps header line ("start-end perms offset maj:min ino name").
bool parse_header(char* line, Vma* v) {
  const char* s = line;
  v->start = hex(s);
  if (*s++ != '-') return false;
  v->end = hex(s);
  if (*s++ != ' ') return false;
  v->prot = (s[0] == 'r' ? PROT_READ : 0) | (s[1] == 'w' ? PROT_WRITE : 0) |
            (s[2] == 'x' ? PROT_EXEC : 0);
  v->shared = s[3] == 's';
  s += 5;
  v->offset = hex(s);
  ++s;
  v->dev_major = static_cast<unsigned>(hex(s));
  ++s;
  v->dev_minor = static_cast<unsigned>(hex(s));
  ++s;
  v->ino = strtoull(s, const_cast<char**>(&s), 10);
  while (*s == ' ') ++s;
  v->name = s;
  v->growsdown = false;
  return true;
}

bool ends_with(const char* s, const char* suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

class PageWriter {
 public:
  PageWriter(crimg::ImageWriter* w, crimg::PageRun* runs) : w_(w), runs_(runs) {}
  int add(uint32_t region, uint64_t addr, uint64_t page) {
    if (region != region_ && n_) {
      int rc = flush();
      if (rc) return rc;
    }
    region_ = region;
    if (n_ && runs_[n_ - 1].addr + runs_[n_ - 1].npages * page == addr) {
      runs_[n_ - 1].npages++;
    } else {
      runs_[n_++] = {addr, 1};
    }
    bytes_ += page;
    if (bytes_ >= kChunkBytes || n_ == kMaxRuns) return flush();
    return 0;
  }
  int flush() {
    if (!n_) return 0;
    int rc = w_->pages(region_, runs_, n_);
    n_ = 0;
    bytes_ = 0;
    return rc;
  }

 private:
  crimg::ImageWriter* w_;
  crimg::PageRun* runs_;
  uint32_t n_ = 0;
  uint32_t region_ = 0;
  uint64_t bytes_ = 0;
};

// Scratch memory the steps share (nothing here may call malloc).
struct Work {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  char* smaps = nullptr;
  Vma* vmas = nullptr;
  size_t nv = 0;
  crimg::RegionRecord* regs = nullptr;
  const char** names = nullptr;
  size_t nr = 0;
  crimg::PageRun* runs = nullptr;
  uint64_t* pm = nullptr;
  unsigned char* resident = nullptr;
};
constexpr size_t kSmapsCap = 64u << 20;
constexpr size_t kMaxVmas = 1 << 16;

int alloc_work(crimg::Scratch* s, Work* w) {
  w->smaps = static_cast<char*>(s->alloc(kSmapsCap));
  w->vmas = static_cast<Vma*>(s->alloc(kMaxVmas * sizeof(Vma)));
  w->regs = static_cast<crimg::RegionRecord*>(s->alloc(kMaxVmas * sizeof(crimg::RegionRecord)));
  w->names = static_cast<const char**>(s->alloc(kMaxVmas * sizeof(char*)));
  w->runs = static_cast<crimg::PageRun*>(s->alloc(kMaxRuns * sizeof(crimg::PageRun)));
  w->pm = static_cast<uint64_t*>(s->alloc(kBatchPages * sizeof(uint64_t)));
  w->resident = static_cast<unsigned char*>(s->alloc(kBatchPages));
  return w->smaps && w->vmas && w->regs && w->names && w->runs && w->pm && w->resident ? 0
                                                                                          : -ENOMEM;
}

// Step 1: smaps, whole, parsed into VMAs.
int read_vmas(Work* w) {
  int fd = open("/proc/thread-self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, w->smaps + len, kSmapsCap - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += static_cast<size_t>(r);
    if (len == kSmapsCap - 1) break;
  }
  close(fd);
  if (len == kSmapsCap - 1) return -E2BIG;  // never silently drop regions
  w->smaps[len] = '\0';
  for (char* line = w->smaps; *line;) {
    char* nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    if ((*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f')) {
      if (w->nv == kMaxVmas) return -E2BIG;
      if (parse_header(line, &w->vmas[w->nv])) ++w->nv;
    } else if (w->nv && strncmp(line, "VmFlags:", 8) == 0) {
      w->vmas[w->nv - 1].growsdown = strstr(line, " gd") != nullptr;
    }
    if (!nl) break;
    line = nl + 1;
  }
  return 0;
}

// Sets r.kind (and the file's size and time) from the VMA it came from.
void classify(const Vma& v, const char* nm, crimg::RegionRecord* r) {
  struct stat fst;
  const bool same_file = v.ino && !ends_with(nm, " (deleted)") && stat(nm, &fst) == 0 &&
                         fst.st_ino == v.ino && S_ISREG(fst.st_mode);
  if (nm[0] == '[' && nm[1] == 'v' &&
      (!strcmp(nm, "[vdso]") || !strncmp(nm, "[vvar", 5) || !strcmp(nm, "[vsyscall]"))) {
    r->kind = crimg::kRegSpecial;
    return;
  }
  if (nm[0] == '/' && !v.shared) {
    // A file gone or not a file: keep its bytes.
    r->kind = nm[0] == '/' && same_file ? crimg::kRegFilePrivate : crimg::kRegAnon;
  } else if (nm[0] == '/' && v.shared) {
    const bool keep_file = same_file && strncmp(nm, "/dev/", 5) != 0;
    r->kind = keep_file ? crimg::kRegFileShared : crimg::kRegSharedAnon;
  } else {
    r->kind = v.shared ? crimg::kRegSharedAnon : crimg::kRegAnon;
    return;
  }
  if (r->kind == crimg::kRegFilePrivate || r->kind == crimg::kRegFileShared) {
    r->file_size = static_cast<uint64_t>(fst.st_size);
    r->mtime_ns = fst.st_mtim.tv_sec * 1000000000LL + fst.st_mtim.tv_nsec;
  }
}

// Step 2: regions: each VMA minus the excluded ranges (sorted, disjoint),
// classified.
int cut_regions(Work* w, const MemRange* ex, size_t nex) {
  for (size_t i = 0; i < w->nv; ++i) {
    const Vma& v = w->vmas[i];
    uint64_t lo = v.start;
    for (size_t k = 0; k <= nex && lo < v.end; ++k) {
      // The piece [lo, hi) before excluded range k (or up to the VMA's end).
      uint64_t hi = k < nex && ex[k].lo < v.end ? ex[k].lo : v.end;
      if (k < nex && ex[k].hi <= lo) continue;
      if (hi > lo) {
        if (w->nr >= kMaxVmas) return -E2BIG;
        crimg::RegionRecord& r = w->regs[w->nr];
        memset(&r, 0, sizeof r);
        r.start = lo;
        r.end = hi;
        r.prot = v.prot;
        r.file_offset = v.offset + (lo - v.start);
        r.dev = makedev(v.dev_major, v.dev_minor);
        r.ino = v.ino;
        w->names[w->nr] = v.name;
        if (v.growsdown) r.flags |= crimg::kRegGrowsDown;
        if (strcmp(v.name, "[heap]") == 0) r.flags |= crimg::kRegHeap;
        if (strcmp(v.name, "[stack]") == 0) r.flags |= crimg::kRegStack;
        classify(v, v.name, &r);
        ++w->nr;
      }
      if (k < nex && ex[k].hi > lo) lo = ex[k].hi;
      if (k < nex && ex[k].lo >= v.end) break;
    }
  }
  return 0;
}

// Does region @r hold a page worth saving (for an unreadable region: is it
// worth making readable for the capture)?
bool any_page(Work* w, int pmfd, const crimg::RegionRecord& r) {
  const bool file = r.kind == crimg::kRegFilePrivate;
  for (uint64_t a = r.start; a < r.end;) {
    size_t n = static_cast<size_t>((r.end - a) / w->page);
    if (n > kBatchPages) n = kBatchPages;
    if (pread(pmfd, w->pm, n * 8, static_cast<off_t>(a / w->page * 8)) !=
        static_cast<ssize_t>(n * 8))
      return false;
    for (size_t k = 0; k < n; ++k) {
      const uint64_t e = w->pm[k];
      if (file ? ((e & kPresent) && !(e & kFilePage)) || (e & kSwapped)
               : (e & (kPresent | kSwapped)) != 0)
        return true;
    }
    a += n * w->page;
  }
  return false;
}

// Step 3, for one readable region: pick its pages and add them to @pw.
int region_pages(Work* w, int pmfd, size_t i, PageWriter* pw) {
  crimg::RegionRecord& r = w->regs[i];
  const bool file = r.kind == crimg::kRegFilePrivate;
  // Pages that may hold data without being mapped here: a private mapping
  // of a file that is gone (its untouched pages are the old file's), and
  // shared memory (written through another mapping).  Read them all;
  // mincore() tells which shared pages exist at all.
  const bool every_page =
      r.kind == crimg::kRegAnon && w->names[i][0] == '/' && strncmp(w->names[i], "/dev/", 5) != 0;
  const bool ask_mincore = r.kind == crimg::kRegSharedAnon;
  const uint64_t page = w->page;
  for (uint64_t a = r.start; a < r.end;) {
    size_t n = static_cast<size_t>((r.end - a) / page);
    if (n > kBatchPages) n = kBatchPages;
    ssize_t got = pread(pmfd, w->pm, n * 8, static_cast<off_t>(a / page * 8));
    if (got != static_cast<ssize_t>(n * 8)) return got < 0 ? -errno : -EIO;
    if (every_page) {
      for (size_t k = 0; k < n; ++k) w->pm[k] |= kPresent;
    } else if (ask_mincore && mincore(reinterpret_cast<void*>(a), n * page, w->resident) == 0) {
      for (size_t k = 0; k < n; ++k)
        if (w->resident[k] & 1) w->pm[k] |= kPresent;
    }
    for (size_t k = 0; k < n; ++k, a += page) {
      const uint64_t e = w->pm[k];
      const bool pick =
          file ? ((e & kPresent) && !(e & kFilePage)) || (e & kSwapped)
               : (e & (kPresent | kSwapped)) && !is_zero_page(reinterpret_cast<const void*>(a), page);
      if (!pick) continue;
      if (int rc = pw->add(static_cast<uint32_t>(i), a, page)) return rc;
      ++r.saved_pages;
    }
  }
  return 0;
}

// Step 3: PAGES sections, region by region.  Memory the program made
// unreadable (mprotect) may still hold data: if any page is there, it is
// made readable for the time of the capture (every other thread is
// stopped) and its protection put back after.
int write_pages(crimg::ImageWriter* iw, Work* w) {
  int pmfd = open("/proc/thread-self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pmfd < 0) return -errno;
  PageWriter pw(iw, w->runs);
  int rc = 0;
  for (size_t i = 0; i < w->nr && !rc; ++i) {
    const crimg::RegionRecord& r = w->regs[i];
    if (r.kind == crimg::kRegSpecial || r.kind == crimg::kRegFileShared) continue;
    const bool unreadable = !(r.prot & PROT_READ);
    void* at = reinterpret_cast<void*>(r.start);
    if (unreadable && (!any_page(w, pmfd, r) ||
                       mprotect(at, r.end - r.start, static_cast<int>(r.prot | PROT_READ)) != 0))
      continue;
    rc = region_pages(w, pmfd, i, &pw);
    if (unreadable) {
      if (!rc) rc = pw.flush();  // written while still readable
      mprotect(at, r.end - r.start, static_cast<int>(r.prot));
    }
  }
  if (!rc) rc = pw.flush();
  close(pmfd);
  return rc;
}

// Step 4: REGIONS, with the pages saved per region.
int write_regions(crimg::ImageWriter* iw, crimg::Scratch* s, const Work& w) {
  size_t need = 4 + w.nr * (sizeof(crimg::RegionRecord) + 4 + 4096);
  void* rb = s->alloc(need);
  if (!rb) return -ENOMEM;
  crimg::Encoder e(rb, need);
  e.pod(static_cast<uint32_t>(w.nr));
  for (size_t i = 0; i < w.nr; ++i) {
    e.pod(w.regs[i]);
    e.str(w.names[i]);
  }
  if (e.overflow()) return -ENOMEM;
  return iw->metadata(crimg::kSecRegions, e.data(), e.size());
}

}  // namespace

int write_memory(crimg::ImageWriter* iw, crimg::Scratch* s, const MemRange* excluded,
                 size_t nexcluded) {
  Work w;
  int rc = alloc_work(s, &w);
  if (!rc) rc = read_vmas(&w);
  if (!rc) rc = cut_regions(&w, excluded, nexcluded);
  if (!rc) rc = write_pages(iw, &w);
  if (!rc) rc = write_regions(iw, s, w);
  return rc;
}

}  // namespace crrt
