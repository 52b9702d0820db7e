// image_raw_fuzz.cpp -- libFuzzer target: raw bytes as an image.  Most
// mutations stop at a checksum; this target fuzzes the framing (header,
// section headers, sizes, truncation) and the checksum checks themselves.
#include "fuzz_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  crfuzz::run_reader(data, size);
  return 0;
}
