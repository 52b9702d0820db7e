// manifest_parse_fuzz.cpp -- libFuzzer target for manifest::parse(): any
// input is refused with manifest::Error or accepted; what is accepted must
// survive to_text() -> parse() unchanged.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <string>

#include "crmpi/manifest.h"

namespace mf = crmpi::manifest;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mf::Manifest m;
  try {
    m = mf::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
  } catch (const mf::Error&) {
    return 0;
  }
  std::string text;
  try {
    text = mf::to_text(m);
  } catch (const mf::Error&) {
    return 0;  // parse() takes JSON's escapes for any byte; to_text() wants UTF-8
  }
  if (mf::to_text(mf::parse(text, "again")) != text) abort();
  return 0;
}
