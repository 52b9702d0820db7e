// crmpi/manifest.h -- the job checkpoint manifest, job.manifest.json.
//
// A job checkpoint is a folder holding one image per rank and this manifest,
// written last: a folder without a readable manifest is not a checkpoint.
// The JSON layout, with its schema version, is documented in
// docs/formats.md ("Job manifest").  Writers: the coordinator.  Readers:
// cr_restart / crmpirun --restart (validate, then launch), cr_agent --restore
// (its rank's image), cr_info.
//
// Images are named rank.<R>.e<EPOCH>.img: a new checkpoint into the same
// folder never overwrites the images the previous manifest names.
//
// Thread safety: the functions share no state (any thread, concurrently).
// Signal safety: none (they allocate).
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
// and the problem ("DIR/job.manifest.json: rank 3: image rank.3.e1.img:
// digest differs: ...").
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// image_name -- "rank.<R>.e<EPOCH>.img", the name a rank's image gets.
std::string image_name(int rank, uint32_t epoch);

// to_text -- the manifest as JSON text (2-space indented, ends in '\n').
//   @m: written as schema version kSchemaVersion whatever m.schema_version
//   says.  Returns: the text.  Errors: Error if a string is not valid UTF-8
//   or the environment names a variable twice (JSON could not say it).
//   to_text does not check the rest; write() does (it parses its own text).
//
// parse -- the inverse.
//   @text: the file's contents.  @what: the manifest's name in messages
//   (its path).  Returns: the manifest, ranks sorted by rank (a file may
//   list them in any order).  Errors: Error ("WHAT: problem") for anything
//   malformed, missing, of another schema or schema version, out of range
//   or inconsistent: nranks not the length of ranks, ranks not 0..n-1 each
//   once, two ranks naming one image, image names that are empty, contain
//   '/' or "..", or control characters; it never crashes on any input
//   (nesting deeper than 64 levels and texts over 64 MiB are refused).
//   Unknown fields are ignored (later version-1 writers may add some).
std::string to_text(const Manifest& m);
Manifest parse(const std::string& text, const std::string& what);

// write -- dir/job.manifest.json, atomically and durably: the text is
// checked with parse(), written to a temporary file in @dir created with
// O_CREAT|O_EXCL, mode 0600 (job.manifest.json.tmp.PID.XXXXXX), fsynced,
// renamed over job.manifest.json, then @dir is fsynced.  A reader sees the
// old manifest or the new one, never a part.
//   Errors: Error naming the file and the errno text (ENOSPC: "No space
//   left on device (the file system holding DIR is full)").  On failure the
//   temporary file is removed and any previous manifest is left as it was
//   (except when only the final fsync of @dir fails: the new manifest is
//   then in place, but may not survive a crash).
void write(const std::string& dir, const Manifest& m);

// locate -- where the manifest is for a user's argument.
//   @manifest_or_dir: a manifest file (returned as it is) or a folder
//   (returns FOLDER/job.manifest.json if it exists).  Errors: Error if it
//   does not exist, or "no job.manifest.json in DIR: not a complete
//   checkpoint".
std::string locate(const std::string& manifest_or_dir);

// folder_of -- the folder of a manifest file (what validate_images and
// image_problem take as @dir): "DIR" for "DIR/job.manifest.json", "." for a
// bare file name.
std::string folder_of(const std::string& manifest_path);

// read -- read and parse() the manifest file @path (at most 64 MiB; a FIFO
// is refused, never waited on).  Errors: Error (cannot open/read, or
// parse()'s).
Manifest read(const std::string& path);

// image_problem -- what is wrong with rank @r's image, in @dir (the
// manifest's folder), or "" if nothing is.  The checks are those of
// validate_images for one rank; the text names the problem only ("missing",
// "not a crmpi process image (bad magic)", "unsupported image version 1
// (this build reads version 2)", "truncated image: ...", "corrupt image:
// ...", "size differs: ...", "digest differs: ...").  Never throws for a
// bad image (std::bad_alloc aside).  Used by cr_info to report every rank.
std::string image_problem(const Manifest& m, const std::string& dir, const RankImage& r,
                          bool deep = false);

// validate_images -- check every image the manifest names, in @dir (the
// manifest's folder): it exists, is a crmpi image of a version this build
// reads (and the one m.image_version records), and its size and digest are
// those recorded.  Image::open checks the whole structure and every
// metadata checksum, but reads no page data; the digest covers every
// section header (so a replaced image is found) but not the page bytes.
//   @expect_ranks: > 0: the rank count must be that ("the checkpoint has N
//   ranks, but M were asked for").
//   @deep: also read and checksum every page of every image
//   (Image::verify_pages: what cr_restart checks before its point of no
//   return, and what cr_info does); costs a read of every image.
//   Errors: Error naming the first problem: "DIR/job.manifest.json: rank 3:
//   image rank.3.e1.img: digest differs: ...".
void validate_images(const Manifest& m, const std::string& dir, int expect_ranks = 0,
                     bool deep = false);

}  // namespace crmpi::manifest
