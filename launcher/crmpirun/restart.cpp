// restart.cpp -- what crmpirun keeps in and takes from a job manifest:
// the job's description, --restart's validation and option merge, and
// --keep's pruning of older checkpoints.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "crmpi/channel.h"
#include "crmpi/coord_protocol.h"
#include "crmpi/image.h"
#include "job.h"

extern char** environ;

namespace crmpirun {
namespace fs = std::filesystem;
namespace mf = crmpi::manifest;

long parse_duration(const std::string& s) {
  char* end = nullptr;
  errno = 0;
  const long n = strtol(s.c_str(), &end, 10);
  if (s.empty() || end == s.c_str() || errno || n <= 0) return -1;
  const std::string unit = end;
  const long mul = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  if (mul < 0 || n > (1L << 30) / mul) return -1;
  return n * mul;
}

int ranks_from_options(const std::vector<std::string>& opts) {
  for (size_t i = 0; i + 1 < opts.size(); ++i)
    if (opts[i] == "-np" || opts[i] == "--np" || opts[i] == "-n" || opts[i] == "-c")
      return atoi(opts[i + 1].c_str()) > 0 ? atoi(opts[i + 1].c_str()) : 0;
  return 0;
}

mf::Manifest job_description(const std::vector<std::string>& command,
                             const std::vector<std::string>& mpirun_options, bool preload) {
  mf::Manifest m;
  m.job_name = fs::path(command.at(0)).filename();
  m.command = command;
  m.mpirun_options = mpirun_options;
  char cwd[PATH_MAX];
  m.cwd = getcwd(cwd, sizeof cwd) ? cwd : ".";
  // What a restart must set again: the user's crmpi and Open MPI settings,
  // not this run's secret, address or library path.
  static const std::set<std::string> kPerRun = {"CRMPI_COORD", "CRMPI_JOB_SECRET", "CRMPI_PRELOAD"};
  for (char** e = environ; *e; ++e) {
    const char* eq = strchr(*e, '=');
    if (!eq) continue;
    const std::string name(*e, static_cast<size_t>(eq - *e));
    if ((name.rfind("CRMPI_", 0) == 0 || name.rfind("OMPI_MCA_", 0) == 0) && !kPerRun.count(name))
      m.environment.emplace_back(name, eq + 1);
  }
  std::sort(m.environment.begin(), m.environment.end());
  m.preload = preload;
  m.image_version = CRMPI_IMAGE_VERSION;
  m.channel_version = crmpi::chan::kVersion;
  m.protocol_version = crmpi::coord::kVersion;
  return m;
}

bool load_restart(const std::string& arg, int expect_ranks, mf::Manifest* m, std::string* path) {
  try {
    *path = fs::absolute(mf::locate(arg)).lexically_normal();
    *m = mf::read(*path);
    // deep: every page's checksum too.  Without it a flipped byte in page
    // data is found only by a rank's cr_restart, after mpirun has started
    // every rank; refusing here costs one read of the images (which the
    // ranks then find in the page cache).
    mf::validate_images(*m, fs::path(*path).parent_path(), expect_ranks, true);
  } catch (const std::exception& e) {
    fprintf(stderr, "crmpirun: cannot restart from %s: %s\n", arg.c_str(), e.what());
    return false;
  }
  if (m->command.empty()) {
    fprintf(stderr, "crmpirun: cannot restart from %s: the manifest names no program\n", arg.c_str());
    return false;
  }
  // The images hold the libcrpmpi that took the checkpoint; it must speak
  // our agents' channel.
  if (m->channel_version != crmpi::chan::kVersion) {
    fprintf(stderr,
            "crmpirun: cannot restart from %s: its ranks speak channel version %u, this build's "
            "agents version %u (restart it with the crmpi build that took it)\n",
            arg.c_str(), m->channel_version, crmpi::chan::kVersion);
    return false;
  }
  return true;
}

namespace {

// Options grouped with their arguments; the key says what replaces what.
struct Opt {
  std::string key;
  std::vector<std::string> words;
};

std::vector<Opt> group(const std::vector<std::string>& opts) {
  static const std::set<std::string> kTwo = {"--mca", "-mca", "--gmca", "-gmca"};
  static const std::map<std::string, std::string> kAlias = {
      {"-n", "-np"}, {"--np", "-np"}, {"-H", "--host"}, {"-host", "--host"},
      {"-hostfile", "--hostfile"}, {"-machinefile", "--hostfile"}, {"--machinefile", "--hostfile"}};
  std::vector<Opt> out;
  for (size_t i = 0; i < opts.size(); ++i) {
    const std::string& o = opts[i];
    if (o.empty() || o[0] != '-') {  // an argument: belongs to the option before
      if (!out.empty()) out.back().words.push_back(o);
      continue;
    }
    Opt g;
    g.key = kAlias.count(o) ? kAlias.at(o) : o;
    g.words.push_back(o);
    if (kTwo.count(o) && i + 2 < opts.size()) {
      g.key += " " + opts[i + 1];
      g.words.push_back(opts[++i]);
      g.words.push_back(opts[++i]);
    } else if (o == "-x" && i + 1 < opts.size()) {
      const std::string& v = opts[++i];
      g.key += " " + v.substr(0, v.find('='));
      g.words.push_back(v);
    }
    out.push_back(g);
  }
  return out;
}

}  // namespace

std::vector<std::string> merge_options(const std::vector<std::string>& saved,
                                       const std::vector<std::string>& user) {
  const std::vector<Opt> s = group(saved), u = group(user);
  std::set<std::string> given;
  for (const Opt& g : u) given.insert(g.key);
  // Where the ranks run is one choice: a placement given now replaces every
  // saved one (mpirun would combine a saved --host with a new --hostfile and
  // keep the ranks on the old hosts).
  static const std::set<std::string> kPlacement = {"--host", "--hostfile", "--default-hostfile"};
  bool placed = false;
  for (const Opt& g : u) placed = placed || kPlacement.count(g.key) > 0;
  std::vector<std::string> out;
  for (const Opt& g : s)
    if (!given.count(g.key) && !(placed && kPlacement.count(g.key)))
      out.insert(out.end(), g.words.begin(), g.words.end());
  for (const Opt& g : u) out.insert(out.end(), g.words.begin(), g.words.end());
  return out;
}

void restore_environment(const mf::Manifest& m) {
  for (const auto& [name, value] : m.environment) setenv(name.c_str(), value.c_str(), 0);
}

void prune_checkpoints(const std::string& committed, const mf::Manifest& job, int keep) {
  if (keep <= 0) return;
  const fs::path parent = fs::path(committed).parent_path();
  std::vector<std::pair<uint32_t, fs::path>> found;  // epoch, folder
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    if (!e.is_directory() || e.is_symlink()) continue;
    try {
      const mf::Manifest m = mf::read((e.path() / mf::kFileName).string());
      if (m.job_name == job.job_name && m.command == job.command && m.cwd == job.cwd)
        found.emplace_back(m.epoch, e.path());
    } catch (const std::exception&) {
      // no manifest, or not a valid one: not a complete checkpoint; left alone
    }
  }
  std::sort(found.rbegin(), found.rend());
  for (size_t i = static_cast<size_t>(keep); i < found.size(); ++i) {
    const fs::path& d = found[i].second;
    if (fs::equivalent(d, committed, ec)) continue;
    const mf::Manifest m = mf::read((d / mf::kFileName).string());
    fs::remove(d / mf::kFileName, ec);  // first: from here on it is no checkpoint
    for (const mf::RankImage& r : m.ranks) fs::remove(d / r.image, ec);
    fs::remove(d, ec);  // only if empty
    if (getenv("CRMPI_VERBOSE")) fprintf(stderr, "crmpirun: removed old checkpoint %s\n", d.c_str());
  }
}

}  // namespace crmpirun
