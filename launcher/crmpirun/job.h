// job.h -- crmpirun's job checkpoint side: the coordinator, the job control
// socket, periodic checkpoints, --keep, --restart, and the main loop that
// waits for mpirun.  crmpirun.cpp reads the command line and starts mpirun.
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "crmpi/coordinator.h"
#include "crmpi/manifest.h"

namespace crmpirun {

struct JobOptions {
  long every_s = 0;            // --checkpoint-every (0: none)
  std::string dir;             // --checkpoint-dir: parent of the per-epoch folders
  int keep = 0;                // --keep K (0: keep all)
  std::string restart;         // --restart MANIFEST|DIR
};

// "30s", "5m", "1h", "90" (seconds).  -1 if malformed or not positive.
long parse_duration(const std::string& s);

// The manifest's job-wide fields for a job launched from @cwd.
crmpi::manifest::Manifest job_description(const std::vector<std::string>& command,
                                          const std::vector<std::string>& mpirun_options,
                                          bool preload);

// The world size from -np/-n/--np/-c (0 when not given).
int ranks_from_options(const std::vector<std::string>& opts);

// --restart: locates and validates the manifest and every image, pages
// included (a message naming the problem on stderr, then false).
// @expect_ranks > 0: the -np the user gave, which must be the checkpoint's
// rank count.  Fills *m and *path.
bool load_restart(const std::string& arg, int expect_ranks, crmpi::manifest::Manifest* m,
                  std::string* path);

// The manifest's mpirun options with the user's: an option the user gives
// replaces the manifest's (-x and --mca by their variable), others add.
std::vector<std::string> merge_options(const std::vector<std::string>& saved,
                                       const std::vector<std::string>& user);

// Sets the manifest's environment where the caller's has no value.
void restore_environment(const crmpi::manifest::Manifest& m);

// After checkpoint @committed (absolute folder) of the job described by
// @job, removes older complete checkpoints of the same job in its parent
// folder beyond the newest @keep.  Only folders holding a valid manifest of
// this job; only the files the manifest names, the manifest, then the
// folder if empty.
void prune_checkpoints(const std::string& committed, const crmpi::manifest::Manifest& job,
                       int keep);

// Makes the job secret, starts the coordinator and exports CRMPI_COORD and
// CRMPI_JOB_SECRET; every committed checkpoint, whoever asked, then prunes
// by @o.keep (prune_checkpoints).  False with a message on stderr.
bool start_coordinator(crmpi::coord::Coordinator* c, crmpi::coord::CoordinatorConfig cfg,
                       const JobOptions& o);

// The main loop: serves the coordinator and the job control socket, takes
// periodic checkpoints, and returns mpirun's wait status once it exits.
// Ends the job for a committed --term/--kill (never returns then).
int run_loop(pid_t mpirun, crmpi::coord::Coordinator* c, const JobOptions& o);

// Kills every descendant (mpirun and the ranks) with @sig; reaps them.
void kill_descendants(int sig);

}  // namespace crmpirun
