// cr_info FILE -- print a process image: header, threads, regions, fds,
// sizes and checksums.  cr_info DIR (or DIR/job.manifest.json) prints a job
// checkpoint instead: the job and every rank's image with its status
// (cr_info_job.cpp), exiting 1 unless every image is good.  Exits 1 if the image is damaged in any way: it runs
// exactly the checks cr_restart runs on an image before its point of no
// return (Image::open + Image::verify_pages, see reader.h), so an image it
// calls good is one cr_restart reads without complaint.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <string>

#include "cli.h"
#include "cr_info_job.h"
#include "quiet_pipe.h"
#include "reader.h"

static std::string prot_str(uint32_t p) {
  std::string s = "---";
  if (p & PROT_READ) s[0] = 'r';
  if (p & PROT_WRITE) s[1] = 'w';
  if (p & PROT_EXEC) s[2] = 'x';
  return s;
}

static void print_process(const crimg::Image& img, const char* file) {
  const crimg::FileHeader& h = img.header;
  time_t t = static_cast<time_t>(h.created_ns / 1000000000ull);
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
  printf("image:    %s\n", file);
  printf("format:   crmpi process image v%u, x86_64, page %u, %s\n", h.version, h.page_size,
         (h.flags & crimg::kImageCompressed) ? "zstd" : "uncompressed");
  printf("id:       %016llx, digest %016llx\n", static_cast<unsigned long long>(h.image_id),
         static_cast<unsigned long long>(img.digest));
  printf("size:     %llu bytes, %zu sections, %llu pages saved\n",
         static_cast<unsigned long long>(img.file_size), img.sections.size(),
         static_cast<unsigned long long>(img.end.total_pages));
  printf("taken:    %s\n", when);
  const crimg::ProcessRecord& p = img.process.rec;
  printf("process:  pid %u (ppid %u), uid %u, gid %u, umask %03o\n", p.pid, p.ppid, p.uid, p.gid,
         p.umask);
  printf("exe:      %s\n", img.process.exe.c_str());
  std::string cmd;
  for (const std::string& a : img.process.argv) cmd += (cmd.empty() ? "" : " ") + a;
  printf("command:  %s\ncwd:      %s\n", cmd.c_str(), img.process.cwd.c_str());
  printf("glibc:    tid offset %lld, rseq offset %lld size %u\n",
         static_cast<long long>(p.tid_offset), static_cast<long long>(p.rseq_offset), p.rseq_size);
}

static void print_threads(const crimg::Image& img) {
  printf("\nthreads (%zu):\n", img.threads.size());
  for (const crimg::ThreadInfo& th : img.threads) {
    const crimg::ThreadRecord& r = th.rec;
    // libcr's own thread stopped in a call, not in a signal: show where.
    const bool mgr = r.flags & crimg::kThreadManager;
    const unsigned long long rip = mgr ? r.ctx.rip : r.gregs[16],
                             rsp = mgr ? r.ctx.rsp : r.gregs[15];
    printf(
        "  tid %-7u %-8s rip %#014llx rsp %#014llx fs %#014llx xstate %u B, %u pending "
        "signal(s)%s\n",
        r.tid,
        (r.flags & crimg::kThreadManager) ? "libcr"
        : (r.flags & crimg::kThreadMain)  ? "main"
                                          : "",
        rip, rsp, static_cast<unsigned long long>(r.fs_base), r.xstate_size, r.npending,
        r.altstack_sp ? ", altstack" : "");
  }
}

static void print_regions_fds_signals(const crimg::Image& img) {
  printf("\nregions (%zu):\n", img.regions.size());
  for (const crimg::RegionInfo& r : img.regions) {
    printf("  %012llx-%012llx %s %-12s %8llu pages saved  %s\n",
           static_cast<unsigned long long>(r.rec.start), static_cast<unsigned long long>(r.rec.end),
           prot_str(r.rec.prot).c_str(), crimg::region_kind_name(r.rec.kind),
           static_cast<unsigned long long>(r.rec.saved_pages), r.path.c_str());
  }
  printf("\nfds (%zu):\n", img.fds.size());
  for (const crimg::FdInfo& f : img.fds) {
    printf("  %4d %-8s flags %#o offset %lld%s  %s\n", f.rec.fd, crimg::fd_kind_name(f.rec.kind),
           f.rec.open_flags, static_cast<long long>(f.rec.offset),
           f.data.empty() ? "" : (" +" + std::to_string(f.data.size()) + " B saved").c_str(),
           f.path.c_str());
  }
  int handled = 0;
  for (const crimg::KSigaction& k : img.sigactions) handled += k.handler > 1;
  printf("\nsignals:  %d handler(s) installed\n", handled);
}

static void print_sections(const crimg::Image& img) {
  printf("\nsections:\n");
  for (const crimg::SectionHeader& s : img.sections) {
    if (s.type == crimg::kSecPages) continue;
    printf("  %3u %-8s %10llu bytes  xxh3 %016llx\n", s.index, crimg::section_name(s.type),
           static_cast<unsigned long long>(s.stored_size),
           static_cast<unsigned long long>(s.payload_checksum));
  }
  uint64_t raw = 0, stored = 0;
  for (const crimg::ChunkRef& c : img.chunks) {
    raw += c.hdr.raw_size;
    stored += c.hdr.stored_size;
  }
  printf("  PAGES: %zu section(s), %llu bytes stored (%llu raw)\n", img.chunks.size(),
         static_cast<unsigned long long>(stored), static_cast<unsigned long long>(raw));
}

int main(int argc, char** argv) {
  crtools::quiet_on_closed_pipe();
  bool verify = true;
  std::string file;
  CLI::App app{"Print a crmpi process image and check it the way cr_restart would.", "cr_info"};
  app.add_flag("--no-verify", [&](int64_t) { verify = false; },
               "skip reading the page data (headers and structure are still checked)");
  app.add_option("FILE", file,
                 "the image, or a job checkpoint: its folder or its job.manifest.json")
      ->required();
  crtools::parse_or_exit(app, "cr_info [--no-verify] FILE|DIR", argc, argv);
  if (crtools::is_job_argument(file)) return crtools::print_job(file, verify);
  try {
    crimg::Image img = crimg::Image::open(file);
    print_process(img, file.c_str());
    print_threads(img);
    print_regions_fds_signals(img);
    print_sections(img);
    if (verify) {
      img.verify_pages();
      printf("\nchecksums: all %zu sections OK; structure consistent; pages decompress\n",
             img.sections.size());
    }
  } catch (const std::exception& e) {
    fflush(stdout);
    fprintf(stderr, "cr_info: %s\n", e.what());
    return 1;
  }
  return 0;
}
