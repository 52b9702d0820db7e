// cr_info_job.cpp -- cr_info DIR | DIR/job.manifest.json: the job a
// checkpoint folder holds (crmpi/manifest.h), then every rank's image
// checked the way a restart checks it (manifest::image_problem, deep: what
// cr_restart reads before its point of no return).
#include "cr_info_job.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crmpi/manifest.h"

namespace crtools {

namespace mf = crmpi::manifest;

bool is_job_argument(const std::string& arg) {
  struct stat st;
  if (stat(arg.c_str(), &st) != 0) return arg.size() > 5 && arg.ends_with(".json");
  if (S_ISDIR(st.st_mode)) return true;
  if (!S_ISREG(st.st_mode)) return false;
  if (arg.ends_with(".json")) return true;
  int fd = open(arg.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  for (ssize_t i = 0; i < n; ++i) {
    if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r') continue;
    return buf[i] == '{';
  }
  return false;
}

static std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& a : v) s += (s.empty() ? "" : " ") + a;
  return s;
}

static void print_header(const mf::Manifest& m, const std::string& path) {
  printf("manifest: %s\n", path.c_str());
  printf("job:      %s\n", m.job_name.c_str());
  printf("epoch:    %u, taken %s\n", m.epoch, m.time.c_str());
  printf("command:  %s\n", joined(m.command).c_str());
  printf("mpirun:   %s\n", joined(m.mpirun_options).c_str());
  printf("cwd:      %s\n", m.cwd.c_str());
  printf("env:      %zu variable(s) set again at restart; libcrpmpi %s\n", m.environment.size(),
         m.preload ? "preloaded" : "linked in");
  printf("formats:  image v%u, channel v%u, protocol v%u\n", m.image_version, m.channel_version,
         m.protocol_version);
  printf("nranks:   %zu\n", m.ranks.size());
}

int print_job(const std::string& arg, bool deep) {
  std::string path;
  mf::Manifest m;
  try {
    path = mf::locate(arg);
    m = mf::read(path);
  } catch (const std::exception& e) {
    fprintf(stderr, "cr_info: %s\n", e.what());
    return 1;
  }
  const std::string dir = mf::folder_of(path);
  print_header(m, path);
  printf("\n  %4s  %-16s %-24s %12s  %-16s  %s\n", "rank", "host", "image", "bytes", "digest",
         "status");
  size_t bad = 0;
  std::string first;
  for (const mf::RankImage& r : m.ranks) {
    std::string problem;
    try {
      problem = mf::image_problem(m, dir, r, deep);
    } catch (const std::exception& e) {  // std::bad_alloc: still a bad image
      problem = e.what();
    }
    printf("  %4d  %-16s %-24s %12llu  %016llx  %s\n", r.rank, r.host.c_str(), r.image.c_str(),
           static_cast<unsigned long long>(r.bytes), static_cast<unsigned long long>(r.digest),
           problem.empty() ? "ok" : problem.c_str());
    if (!problem.empty() && bad++ == 0)
      first = "rank " + std::to_string(r.rank) + ": image " + r.image + ": " + problem;
  }
  fflush(stdout);
  if (bad) {
    fprintf(stderr, "cr_info: %s: %zu of %zu image(s) bad; first: %s\n", path.c_str(), bad,
            m.ranks.size(), first.c_str());
    return 1;
  }
  printf("\nall %zu image(s) OK%s\n", m.ranks.size(),
         deep ? ": structure, checksums, sizes and digests; pages decompress"
              : " (sizes, digests, structure; page data not read)");
  return 0;
}

}  // namespace crtools
