// image_tool.cpp -- test helper: writes sample images and makes images that
// are damaged but keep valid checksums (for bad_inputs.sh and the fuzzers'
// seed corpus).
//   image_tool seeds DIR              DIR/stored.img, DIR/zstd.img
//   image_tool corrupt IN OUT KIND    KIND: end-total | drop-signals |
//                                     saved-pages
#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "image_edit.h"
#include "sample_image.h"

namespace {

int seeds(const std::string& dir) {
  const size_t npages = 4;
  char* mem = static_cast<char*>(mmap(nullptr, npages * crtest::kPage, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (mem == MAP_FAILED) return 1;
  for (size_t i = 0; i < npages * crtest::kPage; ++i) mem[i] = static_cast<char>(i % 251);
  for (int level : {0, 1}) {
    const std::string p = dir + (level ? "/zstd.img" : "/stored.img");
    std::string err = crtest::write_sample_image(p, mem, npages, level);
    if (!err.empty()) {
      fprintf(stderr, "image_tool: %s: %s\n", p.c_str(), err.c_str());
      return 1;
    }
  }
  return 0;
}

int corrupt(const char* in, const char* out, const std::string& kind) {
  const std::string bytes = crtest::read_all(in);
  crtest::EditImage img;
  if (!crtest::split_image(bytes, &img) || img.secs.size() < 6) {
    fprintf(stderr, "image_tool: %s: not an image\n", in);
    return 1;
  }
  auto find = [&](uint32_t type) -> crtest::EditSection& {
    for (crtest::EditSection& s : img.secs)
      if (s.h.type == type) return s;
    fprintf(stderr, "image_tool: %s: no section of type %u\n", in, type);
    exit(1);
  };
  if (kind == "end-total") {
    std::string& p = find(crimg::kSecEnd).payload;
    uint64_t t;
    memcpy(&t, p.data() + offsetof(crimg::EndRecord, total_pages), sizeof t);
    ++t;
    memcpy(p.data() + offsetof(crimg::EndRecord, total_pages), &t, sizeof t);
  } else if (kind == "drop-signals") {
    for (size_t i = 0; i < img.secs.size(); ++i)
      if (img.secs[i].h.type == crimg::kSecSignals) img.secs.erase(img.secs.begin() + i);
    const uint32_t n = static_cast<uint32_t>(img.secs.size() - 1);
    memcpy(find(crimg::kSecEnd).payload.data(), &n, sizeof n);
  } else if (kind == "saved-pages") {  // the first region with saved pages
    std::string& p = find(crimg::kSecRegions).payload;
    for (size_t off = 4; off + sizeof(crimg::RegionRecord) + 4 <= p.size();) {
      crimg::RegionRecord r;
      memcpy(&r, p.data() + off, sizeof r);
      if (r.saved_pages) {
        --r.saved_pages;
        memcpy(p.data() + off, &r, sizeof r);
        break;
      }
      uint32_t len;
      memcpy(&len, p.data() + off + sizeof r, sizeof len);
      off += sizeof r + 4 + len;
    }
  } else {
    fprintf(stderr, "image_tool: unknown kind %s\n", kind.c_str());
    return 2;
  }
  std::ofstream o(out, std::ios::binary | std::ios::trunc);
  const std::string joined = crtest::join_image(img);
  o.write(joined.data(), static_cast<std::streamsize>(joined.size()));
  return o ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && !strcmp(argv[1], "seeds")) return seeds(argv[2]);
  if (argc == 5 && !strcmp(argv[1], "corrupt")) return corrupt(argv[2], argv[3], argv[4]);
  fprintf(stderr, "usage: image_tool seeds DIR | corrupt IN OUT KIND\n");
  return 2;
}
