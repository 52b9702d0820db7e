// crmpi/manifest.h -- the job checkpoint manifest, job.manifest.json.
//
// A job checkpoint is a folder holding one image per rank and this manifest,
// written last: a folder without a readable manifest is not a checkpoint.
// The JSON layout, with its schema version, is documented in
// docs/formats.md ("Job manifest").  Writers: the coordinator.  Readers:
// cr_restart / crmpirun --restart (validate, then launch), cr_agent --restore
// (its rank's image), cr_info.
//
// Thread safety: the functions share no state.  Signal safety: none.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace crmpi::manifest {

inline constexpr int kSchemaVersion = 1;
inline constexpr const char* kFileName = "job.manifest.json";

struct RankImage {
  int rank = 0;
  std::string host;        // where the rank ran
  std::string image;       // file name, relative to the manifest's folder
  uint64_t bytes = 0;      // image size
  uint64_t digest = 0;     // crmpi/image.h digest (written as 16 hex digits)
  int app_pid = 0;         // informational
};

struct Manifest {
  int schema_version = kSchemaVersion;
  uint32_t epoch = 0;           // 1 for a job's first checkpoint; continues across restarts
  std::string time;             // UTC, ISO 8601 ("2026-12-02T05:14:35Z")
  std::string job_name;         // basename of the program
  std::vector<std::string> command;         // program and its arguments
  std::vector<std::string> mpirun_options;  // as given to crmpirun (e.g. -np 4, --oversubscribe)
  std::string cwd;                          // crmpirun's working directory
  std::vector<std::pair<std::string, std::string>> environment;  // what a restart must set again
  bool preload = true;          // libcrpmpi was preloaded (not linked in)
  uint32_t image_version = 0;   // crmpi/image.h CRIMG_VERSION
  uint32_t channel_version = 0; // crmpi/channel.h kVersion
  uint32_t protocol_version = 0;  // crmpi/coord_protocol.h kVersion
  std::vector<RankImage> ranks; // one per rank, by rank
};

// What is wrong with a manifest or its images: the message names the file
// and the problem ("job.manifest.json: rank 3: image rank.3.e1.img: checksum
// mismatch").
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// to_json / from_json text.  parse() rejects anything malformed, missing,
// of another schema version or inconsistent (ranks not 0..n-1, duplicate
// ranks, image names with '/' or "..") with an Error; it never crashes on
// any input.
std::string to_text(const Manifest& m);
Manifest parse(const std::string& text, const std::string& what);

// Write dir/job.manifest.json atomically and durably: a temporary file in
// dir, fsync, rename, fsync dir.  Mode 0600.  Throws Error (errno text).
void write(const std::string& dir, const Manifest& m);

// Where the manifest is for a user's argument: a manifest file, or a folder
// holding job.manifest.json.  Throws Error if neither.
std::string locate(const std::string& manifest_or_dir);

// Read and parse `path` (a manifest file).  Throws Error.
Manifest read(const std::string& path);

// Check every image the manifest names, in the manifest's folder: it
// exists, is a crmpi image of a version this build reads, its size and
// digest are those recorded.  With `expect_ranks` > 0, the rank count must
// be that.  Throws Error naming the first problem.
void validate_images(const Manifest& m, const std::string& dir, int expect_ranks = 0);

}  // namespace crmpi::manifest
