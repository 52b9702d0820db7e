// state.h -- what the restart stages share (restore side only).
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

#include "blob.h"
#include "reader.h"
#include "restore.h"

namespace crrestore {

struct Range {
  uint64_t lo, hi;
};

// Where a target region's bytes go before the blob runs.
struct Placement {
  bool staged = false;   // false: mapped at its own address
  uint64_t staging = 0;  // staging address when staged
};

struct State {
  Options opt;
  crimg::Image img;
  uint64_t page = 4096;
  std::vector<Placement> place;  // per region
  std::vector<Range> current;    // our own mappings at planning time
  std::vector<Range> keep;       // ranges the blob must not unmap
  std::vector<Range> avoid;      // temporary addresses the blob uses
  std::vector<crb_op> ops;       // the blob's op list
  uint64_t blob_base = 0, blob_len = 0;
  uint64_t start_brk = 0;
  std::vector<std::string> warnings;

  explicit State(crimg::Image&& i) : img(std::move(i)) {}
  // Where the byte at target address @addr of region @r lives now.
  char* where(size_t r, uint64_t addr) const;
  [[noreturn]] void fail(const std::string& what) const;
};

// Stage functions, one file per resource kind.
void check_owner(State& s);              // owner.cpp: who may restart this image
void check_files(State& s);              // memory.cpp: mapped files unchanged
void plan_memory(State& s);              // memory.cpp: direct or staged, reserve
void map_regions(State& s);              // memory.cpp
void load_pages(State& s);               // memory.cpp
void protect_regions(State& s);          // memory.cpp
void plan_specials(State& s);            // memory.cpp: vdso/vvar moves
void check_fds(State& s);                // fds.cpp
void restore_fds(State& s);              // fds.cpp
void restore_process(State& s);          // process.cpp: cwd, umask, rlimits, name
void restore_signals(State& s);          // process.cpp
[[noreturn]] void enter_blob(State& s);  // threads.cpp

// Opening any path named by an image never blocks (fds.cpp).  Opens @path
// with @flags plus O_NONBLOCK (a FIFO would otherwise wait for a peer for
// ever) and O_CLOEXEC, refuses, through s.fail(), anything whose file type
// (S_IFMT bits) is not @type, then clears O_NONBLOCK unless @flags had it.
// Returns the fd, or -1 with errno set if the open itself failed.
int open_no_block(State& s, const std::string& path, int flags, unsigned type,
                  const std::string& what);
// Refuses, through s.fail(), a path whose file type is not @type; false if
// it does not exist (errno set).  stat() never blocks.
bool check_type(State& s, const std::string& path, unsigned type, const std::string& what);

// Our own mappings (parsed /proc/self/maps), sorted.
std::vector<Range> own_mappings();
// The ranges of a /proc/PID/maps text below the user address top, sorted.
std::vector<Range> parse_mappings(std::istream& maps);
// A free address range of @len at or above the staging base, aligned to
// 1 MiB and 1 MiB away from every range of @busy (in any order).
uint64_t find_free(const std::vector<Range>& busy, uint64_t len);
// plan_memory's decision, without touching memory: each non-special region
// is staged if it overlaps @current (our mappings) or @reserve (which maps
// it at its own address) fails; staged ones get staging addresses clear of
// @current, of every region of the image and of each other.
std::vector<Placement> plan_placement(const std::vector<crimg::RegionInfo>& regions,
                                      const std::vector<Range>& current,
                                      const std::function<bool(const Range&)>& reserve);

}  // namespace crrestore
