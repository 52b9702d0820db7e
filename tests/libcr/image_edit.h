// image_edit.h -- take an image apart and put it back together with valid
// checksums, for tests and fuzzers that must get past the checksums to
// reach the structural checks behind them.  Knows the layout only.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "format.h"

namespace crtest {

struct EditSection {
  crimg::SectionHeader h;
  std::string payload;  // as stored (compressed if h.flags says so)
};

struct EditImage {
  crimg::FileHeader fh;
  std::vector<EditSection> secs;
};

// Splits @bytes into header and sections, trusting nothing but the sizes.
inline bool split_image(const std::string& bytes, EditImage* out) {
  if (bytes.size() < sizeof out->fh) return false;
  memcpy(&out->fh, bytes.data(), sizeof out->fh);
  out->secs.clear();
  for (size_t off = sizeof out->fh; off < bytes.size();) {
    EditSection s;
    if (bytes.size() - off < sizeof s.h) return false;
    memcpy(&s.h, bytes.data() + off, sizeof s.h);
    off += sizeof s.h;
    if (s.h.stored_size > bytes.size() - off) return false;
    s.payload = bytes.substr(off, s.h.stored_size);
    off += s.h.stored_size;
    out->secs.push_back(std::move(s));
  }
  return true;
}

// Joins @img with every checksum, size and index recomputed; the image ids
// are left as they are (a spliced section keeps its own).
inline std::string join_image(EditImage img) {
  img.fh.checksum = crimg::checksum(&img.fh, offsetof(crimg::FileHeader, checksum));
  std::string out(reinterpret_cast<const char*>(&img.fh), sizeof img.fh);
  for (size_t i = 0; i < img.secs.size(); ++i) {
    crimg::SectionHeader& h = img.secs[i].h;
    const std::string& p = img.secs[i].payload;
    h.index = static_cast<uint32_t>(i);
    h.stored_size = p.size();
    if (!(h.flags & crimg::kSectionZstd)) h.raw_size = p.size();
    h.payload_checksum = crimg::checksum(p.data(), p.size());
    h.header_checksum = crimg::checksum(&h, offsetof(crimg::SectionHeader, header_checksum));
    out.append(reinterpret_cast<const char*>(&h), sizeof h);
    out += p;
  }
  return out;
}

// In place, on arbitrary bytes (the fuzzer's mutations): recompute the file
// header's checksum and, for every section whose header and payload fit,
// give it the file's image id and recompute its checksums.  Sizes, indexes
// and contents are left to the mutations.
inline void fix_checksums(uint8_t* data, size_t size) {
  crimg::FileHeader fh;
  if (size < sizeof fh) return;
  memcpy(&fh, data, sizeof fh);
  fh.checksum = crimg::checksum(&fh, offsetof(crimg::FileHeader, checksum));
  memcpy(data, &fh, sizeof fh);
  for (size_t off = sizeof fh; size - off >= sizeof(crimg::SectionHeader);) {
    crimg::SectionHeader h;
    memcpy(&h, data + off, sizeof h);
    const size_t payload = off + sizeof h;
    if (h.stored_size > size - payload) return;
    h.image_id = fh.image_id;
    h.payload_checksum = crimg::checksum(data + payload, h.stored_size);
    h.header_checksum = crimg::checksum(&h, offsetof(crimg::SectionHeader, header_checksum));
    memcpy(data + off, &h, sizeof h);
    off = payload + h.stored_size;
  }
}

}  // namespace crtest
