// restore.h -- restart a process image into the calling process.
//
// cr_restart calls restart_from(): the calling process becomes the process
// of the image (same addresses, threads, fds beyond 0-2, signal handlers,
// cwd, umask, rlimits) and continues where it was checkpointed.  Its own
// stdin, stdout and stderr stay: they are the restarted process's.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace crrestore {

class RestoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Options {
  bool verbose = false;  // print each stage to stderr
  bool quiet = false;    // no warnings about placeholders
  // --relocate OLD=NEW (BLCR): paths under OLD are looked for under NEW
  // (open files, mapped files, cwd).  A relocated mapped file must have the
  // same size; its inode and mtime are not compared.
  std::vector<std::pair<std::string, std::string>> relocate;
  // --foreign-image: restart an image recorded for another uid, or held in
  // a file another user owns, as the invoking user (see owner.cpp).
  bool foreign = false;
  // --inherit-fd N: fd N of cr_restart stays open, at the same number, in
  // the restored process (the image must not use N: an excluded fd, such as
  // libcrpmpi's channel, leaves its number free).
  std::vector<int> inherit;
};

// On success does not return.  Before the point of no return every problem
// (bad image, missing file, address conflict ...) throws RestoreError or
// crimg::ImageError with a message naming the file and the problem, and the
// calling process is unharmed enough to print it and exit.
[[noreturn]] void restart_from(const std::string& image_path, const Options& opt);

}  // namespace crrestore
