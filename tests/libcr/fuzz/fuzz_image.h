// fuzz_image.h -- the body shared by the image fuzzers: hand the bytes to
// the reader exactly as cr_restart and cr_info do (a file, Image::open,
// then every PAGES section loaded), and accept only ImageError as failure.
// Anything else -- a crash, a sanitizer report, another exception, a hang
// -- is a bug.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "reader.h"

namespace crfuzz {

inline void run_reader(const uint8_t* data, size_t size) {
  // One memfd, rewritten for each input: Image::open takes a path.
  static const int fd = memfd_create("crimg_fuzz", MFD_CLOEXEC);
  static const std::string path = "/proc/self/fd/" + std::to_string(fd);
  static std::vector<char> scratch(1u << 20);
  if (fd < 0 || ftruncate(fd, 0) != 0) abort();
  for (size_t done = 0; done < size;) {
    ssize_t w = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (w <= 0) abort();
    done += static_cast<size_t>(w);
  }
  try {
    crimg::Image img = crimg::Image::open(path);
    img.verify_pages();
    // As cr_restart: runs go to a destination (here one scratch buffer for
    // every run that fits, the others are only verified).
    for (const crimg::ChunkRef& c : img.chunks) {
      img.load_chunk(c, [&](uint64_t, uint64_t len) -> char* {
        return len <= scratch.size() ? scratch.data() : nullptr;
      });
    }
  } catch (const crimg::ImageError&) {
  }
}

}  // namespace crfuzz
