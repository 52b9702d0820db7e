// restore.cpp -- the restart, as an explicit stage machine.
//
// Every stage before kEnterBlob may fail with a message; none of them has
// touched anything that the calling process needs to print it and exit.
// kEnterBlob is the point of no return.
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "state.h"

namespace crrestore {

uint64_t current_start_brk();  // threads.cpp

namespace {

enum class Stage {
  kCheckOwner,      // the image is the invoking user's (or --foreign-image)
  kCheckFiles,      // mapped files and open files still there, unchanged
  kPlanMemory,      // in place or staged; reserve target ranges
  kMapRegions,      // create every mapping, writable
  kLoadPages,       // read and verify page data into them
  kProtect,         // final protections
  kPlanSpecials,    // vdso/vvar moves
  kRestoreFds,      // fd table (0-2 stay ours)
  kRestoreProcess,  // cwd, umask, rlimits, name
  kRestoreSignals,  // block all; install the image's handlers
  kEnterBlob,       // point of no return
};

struct StageInfo {
  Stage stage;
  const char* name;
  void (*run)(State&);
};

void stage_check_files(State& s) {
  check_files(s);
  check_fds(s);
}
void stage_plan_specials(State& s) {
  plan_specials(s);
  s.start_brk = current_start_brk();
}
void stage_enter(State& s) {
  if (!s.opt.quiet)
    for (const std::string& w : s.warnings) fprintf(stderr, "cr_restart: warning: %s\n", w.c_str());
  fflush(stdout);
  fflush(stderr);
  enter_blob(s);
}

const StageInfo kStages[] = {
    {Stage::kCheckOwner, "check owner", check_owner},
    {Stage::kCheckFiles, "check files", stage_check_files},
    {Stage::kPlanMemory, "plan memory", plan_memory},
    {Stage::kMapRegions, "map regions", map_regions},
    {Stage::kLoadPages, "load pages", load_pages},
    {Stage::kProtect, "protect", protect_regions},
    {Stage::kPlanSpecials, "plan vdso", stage_plan_specials},
    {Stage::kRestoreFds, "restore fds", restore_fds},
    {Stage::kRestoreProcess, "restore process", restore_process},
    {Stage::kRestoreSignals, "restore signals", restore_signals},
    {Stage::kEnterBlob, "enter restorer", stage_enter},
};

}  // namespace

// Applies --relocate rules to every path of the image.
void relocate_paths(State& s) {
  auto apply = [&](std::string& p) -> bool {
    for (const auto& [from, to] : s.opt.relocate) {
      if (p.compare(0, from.size(), from) == 0 &&
          (p.size() == from.size() || p[from.size()] == '/')) {
        p.replace(0, from.size(), to);
        return true;
      }
    }
    return false;
  };
  for (crimg::RegionInfo& r : s.img.regions) {
    if (r.rec.kind != crimg::kRegFilePrivate && r.rec.kind != crimg::kRegFileShared) continue;
    if (apply(r.path)) r.rec.ino = 0;  // a copy: compare the size only
  }
  for (crimg::FdInfo& f : s.img.fds)
    if (f.rec.kind != crimg::kFdStdio) apply(f.path);
  apply(s.img.process.cwd);
}

void restart_from(const std::string& image_path, const Options& opt) {
  State s(crimg::Image::open(image_path));
  s.opt = opt;
  relocate_paths(s);
  s.page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (const StageInfo& st : kStages) {
    if (opt.verbose) {
      clock_gettime(CLOCK_MONOTONIC, &t1);
      fprintf(stderr, "cr_restart: %7.3f s  %s\n",
              (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9, st.name);
    }
    st.run(s);
  }
  __builtin_unreachable();
}

}  // namespace crrestore
