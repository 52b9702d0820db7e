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
//      saved.  libcr's scratch range is cut out of whatever VMA holds it.
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

}  // namespace

int write_memory(crimg::ImageWriter* w, crimg::Scratch* s, uintptr_t ex_lo, uintptr_t ex_hi,
                 MemoryStats* st) {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  // 1. smaps, whole.
  const size_t cap = 64u << 20;
  char* buf = static_cast<char*>(s->alloc(cap));
  if (!buf) return -ENOMEM;
  int fd = open("/proc/thread-self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fd, buf + len, cap - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += static_cast<size_t>(r);
    if (len == cap - 1) break;
  }
  close(fd);
  if (len == cap - 1) return -E2BIG;  // never silently drop regions
  buf[len] = '\0';

  const size_t kMaxVmas = 1 << 16;
  Vma* vmas = static_cast<Vma*>(s->alloc(kMaxVmas * sizeof(Vma)));
  crimg::RegionRecord* regs =
      static_cast<crimg::RegionRecord*>(s->alloc(kMaxVmas * sizeof(crimg::RegionRecord)));
  const char** names = static_cast<const char**>(s->alloc(kMaxVmas * sizeof(char*)));
  crimg::PageRun* runs = static_cast<crimg::PageRun*>(s->alloc(kMaxRuns * sizeof(crimg::PageRun)));
  uint64_t* pm = static_cast<uint64_t*>(s->alloc(kBatchPages * sizeof(uint64_t)));
  unsigned char* resident = static_cast<unsigned char*>(s->alloc(kBatchPages));
  if (!vmas || !regs || !names || !runs || !pm || !resident) return -ENOMEM;

  size_t nv = 0;
  for (char* line = buf; *line;) {
    char* nl = strchr(line, '\n');
    if (nl) *nl = '\0';
    if ((*line >= '0' && *line <= '9') || (*line >= 'a' && *line <= 'f')) {
      if (nv == kMaxVmas) return -E2BIG;
      if (parse_header(line, &vmas[nv])) ++nv;
    } else if (nv && strncmp(line, "VmFlags:", 8) == 0) {
      vmas[nv - 1].growsdown = strstr(line, " gd") != nullptr;
    }
    if (!nl) break;
    line = nl + 1;
  }

  // 2. Regions (cutting out the excluded scratch range).
  size_t nr = 0;
  for (size_t i = 0; i < nv; ++i) {
    Vma v = vmas[i];
    uint64_t pieces[2][2] = {{v.start, v.end}, {0, 0}};
    if (ex_lo < v.end && ex_hi > v.start) {
      pieces[0][1] = ex_lo > v.start ? ex_lo : v.start;
      pieces[1][0] = ex_hi < v.end ? ex_hi : v.end;
      pieces[1][1] = v.end;
    }
    for (auto& pc : pieces) {
      if (pc[1] <= pc[0]) continue;
      if (nr >= kMaxVmas) return -E2BIG;
      crimg::RegionRecord& r = regs[nr];
      memset(&r, 0, sizeof r);
      r.start = pc[0];
      r.end = pc[1];
      r.prot = v.prot;
      r.file_offset = v.offset + (pc[0] - v.start);
      r.dev = makedev(v.dev_major, v.dev_minor);
      r.ino = v.ino;
      const char* nm = v.name;
      names[nr] = nm;
      if (v.growsdown) r.flags |= crimg::kRegGrowsDown;
      if (strcmp(nm, "[heap]") == 0) r.flags |= crimg::kRegHeap;
      if (strcmp(nm, "[stack]") == 0) r.flags |= crimg::kRegStack;
      if (nm[0] == '[' && nm[1] == 'v' &&
          (!strcmp(nm, "[vdso]") || !strncmp(nm, "[vvar", 5) || !strcmp(nm, "[vsyscall]"))) {
        r.kind = crimg::kRegSpecial;
      } else if (nm[0] == '/' && !v.shared) {
        struct stat fst;
        if (v.ino && !ends_with(nm, " (deleted)") && stat(nm, &fst) == 0 && fst.st_ino == v.ino &&
            S_ISREG(fst.st_mode)) {
          r.kind = crimg::kRegFilePrivate;
          r.file_size = static_cast<uint64_t>(fst.st_size);
          r.mtime_ns = fst.st_mtim.tv_sec * 1000000000LL + fst.st_mtim.tv_nsec;
        } else {
          r.kind = crimg::kRegAnon;  // file gone or not a file: keep its bytes
        }
      } else if (nm[0] == '/' && v.shared) {
        struct stat fst;
        const bool keep_file = v.ino && !ends_with(nm, " (deleted)") &&
                               strncmp(nm, "/dev/", 5) != 0 && stat(nm, &fst) == 0 &&
                               fst.st_ino == v.ino && S_ISREG(fst.st_mode);
        r.kind = keep_file ? crimg::kRegFileShared : crimg::kRegSharedAnon;
        if (keep_file) {
          r.file_size = static_cast<uint64_t>(fst.st_size);
          r.mtime_ns = fst.st_mtim.tv_sec * 1000000000LL + fst.st_mtim.tv_nsec;
        }
      } else {
        r.kind = v.shared ? crimg::kRegSharedAnon : crimg::kRegAnon;
      }
      ++nr;
    }
  }

  // 3. Pages.
  int pmfd = open("/proc/thread-self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pmfd < 0) return -errno;
  PageWriter pw(w, runs);
  int rc = 0;
  for (size_t i = 0; i < nr && !rc; ++i) {
    crimg::RegionRecord& r = regs[i];
    if (r.kind == crimg::kRegSpecial || r.kind == crimg::kRegFileShared) continue;
    const bool file = r.kind == crimg::kRegFilePrivate;
    // Memory the program made unreadable (mprotect) may still hold data:
    // if any page is there, make it readable for the time of the capture
    // (every other thread is stopped) and put the protection back after.
    const bool unreadable = !(r.prot & PROT_READ);
    if (unreadable) {
      bool any = false;
      for (uint64_t a = r.start; a < r.end && !any;) {
        size_t n = static_cast<size_t>((r.end - a) / page);
        if (n > kBatchPages) n = kBatchPages;
        if (pread(pmfd, pm, n * 8, static_cast<off_t>(a / page * 8)) != static_cast<ssize_t>(n * 8))
          break;
        for (size_t k = 0; k < n && !any; ++k)
          any = file ? ((pm[k] & kPresent) && !(pm[k] & kFilePage)) || (pm[k] & kSwapped)
                     : (pm[k] & (kPresent | kSwapped)) != 0;
        a += n * page;
      }
      if (!any || mprotect(reinterpret_cast<void*>(r.start), r.end - r.start,
                           static_cast<int>(r.prot | PROT_READ)) != 0) {
        continue;
      }
    }
    const bool shared = r.kind == crimg::kRegSharedAnon;
    // Pages that may hold data without being mapped here: a private mapping
    // of a file that is gone (its untouched pages are the old file's), and
    // shared memory (written through another mapping).  Read them all;
    // mincore() tells which shared pages exist at all.
    const bool every_page =
        r.kind == crimg::kRegAnon && names[i][0] == '/' && strncmp(names[i], "/dev/", 5) != 0;
    const bool ask_mincore = shared;
    for (uint64_t a = r.start; a < r.end && !rc;) {
      size_t n = static_cast<size_t>((r.end - a) / page);
      if (n > kBatchPages) n = kBatchPages;
      ssize_t got = pread(pmfd, pm, n * 8, static_cast<off_t>(a / page * 8));
      if (got != static_cast<ssize_t>(n * 8)) {
        rc = got < 0 ? -errno : -EIO;
        break;
      }
      if (every_page) {
        for (size_t k = 0; k < n; ++k) pm[k] |= kPresent;
      } else if (ask_mincore && mincore(reinterpret_cast<void*>(a), n * page, resident) == 0) {
        for (size_t k = 0; k < n; ++k)
          if (resident[k] & 1) pm[k] |= kPresent;
      }
      for (size_t k = 0; k < n && !rc; ++k, a += page) {
        const uint64_t e = pm[k];
        bool pick;
        if (file) {
          pick = ((e & kPresent) && !(e & kFilePage)) || (e & kSwapped);
        } else {
          pick =
              (e & (kPresent | kSwapped)) && !is_zero_page(reinterpret_cast<const void*>(a), page);
        }
        if (pick) {
          rc = pw.add(static_cast<uint32_t>(i), a, page);
          ++r.saved_pages;
        }
      }
    }
    if (unreadable) {
      if (!rc) rc = pw.flush();  // written while still readable
      mprotect(reinterpret_cast<void*>(r.start), r.end - r.start, static_cast<int>(r.prot));
    }
  }
  if (!rc) rc = pw.flush();
  close(pmfd);
  if (rc) return rc;

  // 4. REGIONS.
  size_t need = 4 + nr * (sizeof(crimg::RegionRecord) + 4 + 4096);
  void* rb = s->alloc(need);
  if (!rb) return -ENOMEM;
  crimg::Encoder e(rb, need);
  e.pod(static_cast<uint32_t>(nr));
  for (size_t i = 0; i < nr; ++i) {
    e.pod(regs[i]);
    e.str(names[i]);
    st->pages += regs[i].saved_pages;
  }
  st->regions = nr;
  if (e.overflow()) return -ENOMEM;
  return w->metadata(crimg::kSecRegions, e.data(), e.size());
}

}  // namespace crrt
