// image_checksummed_fuzz.cpp -- libFuzzer target: every checksum of the
// mutated bytes is recomputed (and every section given the file's image
// id) before the reader sees them, so mutations reach the record parsing
// and the structural checks behind the checksums (validate.cpp).
#include <vector>

#include "fuzz_image.h"
#include "image_edit.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> fixed(data, data + size);
  crtest::fix_checksums(fixed.data(), fixed.size());
  crfuzz::run_reader(fixed.data(), fixed.size());
  return 0;
}
