// manifest_tool -- writes job manifests for the manifest tests (there is no
// coordinator to write them yet).
//   manifest_tool make DIR NRANKS EPOCH   for the images rank.R.eEPOCH.img
//                                         in DIR (made by cr_checkpoint):
//                                         DIR/job.manifest.json
//   manifest_tool sample DIR NRANKS       a manifest naming images that do
//                                         not exist (write() tests)
// Exit status 1 with manifest::Error's message on stderr.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <string>

#include "crmpi/manifest.h"
#include "reader.h"

namespace mf = crmpi::manifest;

static mf::Manifest job(int nranks, uint32_t epoch) {
  mf::Manifest m;
  m.epoch = epoch;
  m.time = "2026-12-02T05:14:35Z";
  m.job_name = "ckpt_heap";
  m.command = {"ckpt_heap", "0", "50"};
  m.mpirun_options = {"-np", std::to_string(nranks)};
  m.cwd = "/tmp";
  m.environment = {{"CRMPI_TEST", "1"}};
  m.image_version = crimg::kVersion;
  m.channel_version = 1;
  m.protocol_version = 1;
  for (int r = 0; r < nranks; ++r) {
    mf::RankImage ri;
    ri.rank = r;
    ri.host = "localhost";
    ri.image = mf::image_name(r, epoch);
    ri.bytes = 4096;
    ri.digest = 0x0123456789abcdefull + r;
    m.ranks.push_back(ri);
  }
  return m;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: manifest_tool make DIR NRANKS EPOCH | sample DIR NRANKS\n");
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2];
  const int n = atoi(argv[3]);
  try {
    if (mode == "sample") {
      mf::write(dir, job(n, 1));
      return 0;
    }
    if (mode != "make" || argc < 5) return 2;
    mf::Manifest m = job(n, static_cast<uint32_t>(atoi(argv[4])));
    for (mf::RankImage& ri : m.ranks) {
      crimg::Image img = crimg::Image::open(dir + "/" + ri.image);
      ri.bytes = img.file_size;
      ri.digest = img.digest;
      ri.app_pid = static_cast<int>(img.process.rec.pid);
    }
    mf::write(dir, m);
  } catch (const std::exception& e) {
    fprintf(stderr, "manifest_tool: %s\n", e.what());
    return 1;
  }
  return 0;
}
