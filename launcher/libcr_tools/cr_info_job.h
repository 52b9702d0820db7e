// cr_info_job.h -- cr_info on a job checkpoint (a folder with
// job.manifest.json, or the manifest itself): see cr_info_job.cpp.
#pragma once

#include <string>

namespace crtools {

// True if @arg names a job checkpoint rather than one process image: a
// folder, a file named *.json, or a file whose first non-blank byte is '{'.
bool is_job_argument(const std::string& arg);

// Prints the job and one line per rank with its image's status; returns
// cr_info's exit status: 0 if every image is good, 1 otherwise (or if the
// manifest cannot be read).  @deep: also checksum every page (--no-verify
// turns it off).
int print_job(const std::string& arg, bool deep);

}  // namespace crtools
