// manifest_test.cpp -- crmpi/manifest.h: the JSON round trip, every class
// of malformed input (each rejected with a message naming the problem),
// every truncation, write()'s durability path, locate()/read(), and
// validate_images() on real images made by cr_run + cr_checkpoint
// (manifest_job.sh; $CRMPI_TEST_JOB names that folder; without it those
// tests are skipped).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "crmpi/manifest.h"
#include "reader.h"

namespace mf = crmpi::manifest;
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

mf::Manifest sample(int nranks = 3) {
  mf::Manifest m;
  m.epoch = 7;
  m.time = "2026-12-02T05:14:35Z";
  m.job_name = "ring";
  m.command = {"/opt/app/ring", "--iters", "100", "a b\"c\\"};
  m.mpirun_options = {"-np", std::to_string(nranks), "--oversubscribe"};
  m.cwd = "/home/user/run";
  m.environment = {{"A_VAR", "x=y"}, {"OMP_NUM_THREADS", "2"}, {"UNICODE", "\u00e9t\u00e9"}};
  m.preload = false;
  m.image_version = crimg::kVersion;
  m.channel_version = 3;
  m.protocol_version = 1;
  for (int r = 0; r < nranks; ++r) {
    mf::RankImage ri;
    ri.rank = r;
    ri.host = "node" + std::to_string(r / 2);
    ri.image = mf::image_name(r, m.epoch);
    ri.bytes = 123456789012ull + r;
    ri.digest = 0xfedcba9876543210ull ^ r;
    ri.app_pid = 4000 + r;
    m.ranks.push_back(ri);
  }
  return m;
}

void expect_equal(const mf::Manifest& a, const mf::Manifest& b) {
  EXPECT_EQ(a.schema_version, b.schema_version);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.job_name, b.job_name);
  EXPECT_EQ(a.command, b.command);
  EXPECT_EQ(a.mpirun_options, b.mpirun_options);
  EXPECT_EQ(a.cwd, b.cwd);
  EXPECT_EQ(a.environment, b.environment);
  EXPECT_EQ(a.preload, b.preload);
  EXPECT_EQ(a.image_version, b.image_version);
  EXPECT_EQ(a.channel_version, b.channel_version);
  EXPECT_EQ(a.protocol_version, b.protocol_version);
  ASSERT_EQ(a.ranks.size(), b.ranks.size());
  for (size_t i = 0; i < a.ranks.size(); ++i) {
    EXPECT_EQ(a.ranks[i].rank, b.ranks[i].rank);
    EXPECT_EQ(a.ranks[i].host, b.ranks[i].host);
    EXPECT_EQ(a.ranks[i].image, b.ranks[i].image);
    EXPECT_EQ(a.ranks[i].bytes, b.ranks[i].bytes);
    EXPECT_EQ(a.ranks[i].digest, b.ranks[i].digest);
    EXPECT_EQ(a.ranks[i].app_pid, b.ranks[i].app_pid);
  }
}

// The message parse() throws for @text, or "" if it accepts it.
std::string parse_error(const std::string& text) {
  try {
    mf::parse(text, "t.json");
  } catch (const mf::Error& e) {
    return e.what();
  }
  return "";
}

// parse() of sample() after @edit must fail with a message holding @want.
void expect_rejected(const std::function<void(json&)>& edit, const std::string& want) {
  json j = json::parse(mf::to_text(sample()));
  edit(j);
  const std::string text = j.dump();
  const std::string msg = parse_error(text);
  EXPECT_NE(msg.find("t.json: "), std::string::npos) << text;
  EXPECT_NE(msg.find(want), std::string::npos) << "got \"" << msg << "\", wanted \"" << want
                                               << "\" for " << text;
}

class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/manifest_test.XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, ec);
    fs::remove_all(path, ec);
  }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(path)) v.push_back(e.path().filename());
    return v;
  }
  std::string path;
};

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST(Manifest, RoundTrip) {
  const mf::Manifest m = sample();
  const std::string text = mf::to_text(m);
  expect_equal(mf::parse(text, "t.json"), m);
  EXPECT_EQ(mf::to_text(mf::parse(text, "t.json")), text);
  // The documented layout.
  json j = json::parse(text);
  EXPECT_EQ(j["schema"], "crmpi.job-manifest");
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["ranks"][1]["digest"], "fedcba9876543211");
  EXPECT_EQ(j["nranks"], 3);
  EXPECT_EQ(j["formats"]["channel"], 3);
  EXPECT_EQ(j["job"]["preload"], false);
  EXPECT_EQ(j.begin().key(), "schema");
}

TEST(Manifest, RanksInAnyOrderComeBackSorted) {
  json j = json::parse(mf::to_text(sample()));
  std::swap(j["ranks"][0], j["ranks"][2]);
  mf::Manifest m = mf::parse(j.dump(), "t.json");
  for (int r = 0; r < 3; ++r) EXPECT_EQ(m.ranks[r].rank, r);
  EXPECT_EQ(m.ranks[2].image, "rank.2.e7.img");
}

TEST(Manifest, UnknownFieldsAreIgnored) {
  json j = json::parse(mf::to_text(sample()));
  j["later"] = {1, 2};
  j["ranks"][0]["gpu"] = "none";
  EXPECT_EQ(parse_error(j.dump()), "");
}

TEST(Manifest, ImageName) { EXPECT_EQ(mf::image_name(12, 3), "rank.12.e3.img"); }

TEST(Manifest, NotJsonOrNotAManifest) {
  EXPECT_NE(parse_error("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error("\xff\xfe").find("not valid JSON"), std::string::npos);
  EXPECT_NE(parse_error("[]").find("not an object"), std::string::npos);
  EXPECT_NE(parse_error("42").find("not an object"), std::string::npos);
  EXPECT_NE(parse_error("{}").find("not a crmpi job manifest"), std::string::npos);
  EXPECT_NE(parse_error(std::string(100000, '[')).find("nested deeper"), std::string::npos);
  EXPECT_NE(parse_error(std::string(100000, '[') + std::string(100000, ']')).find("nested deeper"),
            std::string::npos);
  EXPECT_NE(parse_error(mf::to_text(sample()) + "x").find("not valid JSON"), std::string::npos);
}

TEST(Manifest, SchemaAndVersion) {
  expect_rejected([](json& j) { j["schema"] = "other"; }, "not a crmpi job manifest");
  expect_rejected([](json& j) { j.erase("schema"); }, "not a crmpi job manifest");
  expect_rejected([](json& j) { j["schema_version"] = 2; },
                  "unsupported manifest schema version 2 (this build reads version 1)");
  expect_rejected([](json& j) { j["schema_version"] = 0; }, "unsupported manifest schema version 0");
  expect_rejected([](json& j) { j["schema_version"] = -1; }, "unsupported manifest schema version -1");
  expect_rejected([](json& j) { j["schema_version"] = "1"; }, "\"schema_version\" is missing or not");
  expect_rejected([](json& j) { j["schema_version"] = 1.0; }, "\"schema_version\" is missing or not");
  expect_rejected([](json& j) { j.erase("schema_version"); }, "\"schema_version\" is missing");
  // A later version is refused before anything it may have changed is read.
  EXPECT_NE(parse_error(R"({"schema": "crmpi.job-manifest", "schema_version": 2})")
                .find("unsupported manifest schema version 2"),
            std::string::npos);
}

TEST(Manifest, MissingFields) {
  for (const char* key : {"epoch", "time", "job", "formats", "nranks", "ranks"})
    expect_rejected([&](json& j) { j.erase(key); }, std::string("missing field \"") + key + "\"");
  for (const char* key : {"name", "command", "mpirun_options", "cwd", "environment", "preload"}) {
    expect_rejected([&](json& j) { j["job"].erase(key); },
                    std::string("missing field \"job.") + key + "\"");
  }
  for (const char* key : {"image", "channel", "protocol"}) {
    expect_rejected([&](json& j) { j["formats"].erase(key); },
                    std::string("missing field \"formats.") + key + "\"");
  }
  for (const char* key : {"rank", "host", "image", "bytes", "digest", "app_pid"}) {
    expect_rejected([&](json& j) { j["ranks"][1].erase(key); },
                    std::string("missing field \"ranks[1].") + key + "\"");
  }
}

TEST(Manifest, WrongTypes) {
  expect_rejected([](json& j) { j["epoch"] = "7"; }, "\"epoch\" must be an integer in 1..4294967295, not \"7\"");
  expect_rejected([](json& j) { j["time"] = 5; }, "\"time\" must be a string, not 5");
  expect_rejected([](json& j) { j["job"] = "ring"; }, "\"job\" must be an object");
  expect_rejected([](json& j) { j["job"]["command"] = "ring"; }, "\"job.command\" must be an array");
  expect_rejected([](json& j) { j["job"]["command"][1] = 3; }, "\"job.command[1]\" must be a string");
  expect_rejected([](json& j) { j["job"]["mpirun_options"] = nullptr; }, "\"job.mpirun_options\" must be an array");
  expect_rejected([](json& j) { j["job"]["preload"] = 1; }, "\"job.preload\" must be true or false");
  expect_rejected([](json& j) { j["job"]["environment"] = json::array(); }, "\"job.environment\" must be an object");
  expect_rejected([](json& j) { j["job"]["environment"]["X"] = 1; }, "\"job.environment.X\" must be a string");
  expect_rejected([](json& j) { j["formats"] = json::array(); }, "\"formats\" must be an object");
  expect_rejected([](json& j) { j["ranks"] = json::object(); }, "\"ranks\" must be an array");
  expect_rejected([](json& j) { j["ranks"][0] = 0; }, "\"ranks[0]\" must be an object");
  expect_rejected([](json& j) { j["ranks"][2]["host"] = json::array(); }, "\"ranks[2].host\" must be a string");
  expect_rejected([](json& j) { j["ranks"][0]["digest"] = 12; }, "\"ranks[0].digest\" must be a string");
}

TEST(Manifest, NumbersOutOfRange) {
  expect_rejected([](json& j) { j["epoch"] = 0; }, "\"epoch\" must be an integer in 1..");
  expect_rejected([](json& j) { j["epoch"] = -1; }, "\"epoch\" must be an integer in 1..4294967295, not -1");
  expect_rejected([](json& j) { j["epoch"] = 4294967296ull; }, "\"epoch\" must be an integer");
  expect_rejected([](json& j) { j["epoch"] = 1.5; }, "\"epoch\" must be an integer");
  expect_rejected([](json& j) { j["formats"]["image"] = -2; }, "\"formats.image\" must be an integer");
  expect_rejected([](json& j) { j["ranks"][0]["app_pid"] = 1ll << 40; }, "\"ranks[0].app_pid\" must be an integer");
  expect_rejected([](json& j) { j["ranks"][0]["bytes"] = 0; }, "\"ranks[0].bytes\" must be an integer in 1..");
  expect_rejected([](json& j) { j["nranks"] = 0; }, "\"nranks\" must be an integer in 1..");
  // Beyond 64 bits: parsed as a float by the JSON reader, still refused.
  std::string text = mf::to_text(sample());
  const std::string bytes = "\"bytes\": 123456789012";
  text.replace(text.find(bytes), bytes.size(), "\"bytes\": 99999999999999999999999999999");
  EXPECT_NE(parse_error(text).find("\"ranks[0].bytes\" must be an integer"), std::string::npos)
      << parse_error(text);
  text.replace(text.find("99999999999999999999999999999"), 29, "1e400");
  EXPECT_NE(parse_error(text), "");
}

TEST(Manifest, RanksNotZeroToNMinusOne) {
  expect_rejected([](json& j) { j["ranks"][1]["rank"] = -1; }, "\"ranks[1].rank\" must be an integer in 0..2, not -1");
  expect_rejected([](json& j) { j["ranks"][1]["rank"] = 3; }, "\"ranks[1].rank\" must be an integer in 0..2, not 3");
  expect_rejected([](json& j) { j["ranks"][2]["rank"] = 0; }, "rank 0 is listed twice (ranks[0] and ranks[2])");
  expect_rejected([](json& j) { j["nranks"] = 4; }, "\"nranks\" is 4 but \"ranks\" lists 3");
  expect_rejected([](json& j) { j["nranks"] = 2; }, "\"nranks\" is 2 but \"ranks\" lists 3");
  expect_rejected([](json& j) { j["ranks"].erase(1); j["nranks"] = 2; }, "\"ranks[1].rank\" must be an integer in 0..1, not 2");
  expect_rejected([](json& j) { j["nranks"] = 1u << 21; }, "\"nranks\" must be an integer in 1..1048576");
}

TEST(Manifest, BadImageNames) {
  for (const char* name : {"../rank.0.img", "a/b.img", "/etc/passwd", "..", "x..y"}) {
    expect_rejected([&](json& j) { j["ranks"][0]["image"] = name; }, "\"ranks[0].image\": image name");
  }
  expect_rejected([](json& j) { j["ranks"][0]["image"] = "a/b"; }, "contains '/'");
  expect_rejected([](json& j) { j["ranks"][0]["image"] = ".."; }, "contains \"..\"");
  expect_rejected([](json& j) { j["ranks"][0]["image"] = "."; }, "is \".\"");
  expect_rejected([](json& j) { j["ranks"][0]["image"] = ""; }, "\"ranks[0].image\" is empty");
  expect_rejected([](json& j) { j["ranks"][0]["image"] = "a\nb"; }, "control character");
  expect_rejected([](json& j) { j["ranks"][0]["image"] = std::string("a\0b", 3); }, "NUL");
  expect_rejected([](json& j) { j["ranks"][0]["image"] = std::string(300, 'a'); }, "longer than 255");
  expect_rejected([](json& j) { j["ranks"][2]["image"] = "rank.0.e7.img"; }, "two ranks name the same image \"rank.0.e7.img\"");
}

TEST(Manifest, OtherBadValues) {
  for (const char* d : {"", "123", "fedcba987654321g", "fedcba98765432100", "-edcba9876543210"})
    expect_rejected([&](json& j) { j["ranks"][0]["digest"] = d; }, "\"ranks[0].digest\"");
  expect_rejected([](json& j) { j["ranks"][0]["digest"] = "xyz"; }, "must be 16 hex digits, not \"xyz\"");
  expect_rejected([](json& j) { j["time"] = "yesterday"; }, "\"time\" is not UTC ISO 8601");
  expect_rejected([](json& j) { j["time"] = "2026-12-02 05:14:35"; }, "\"time\" is not UTC ISO 8601");
  expect_rejected([](json& j) { j["job"]["command"] = json::array(); }, "\"job.command\" names no program");
  expect_rejected([](json& j) { j["job"]["command"][0] = ""; }, "\"job.command\" names no program");
  expect_rejected([](json& j) { j["job"]["command"][1] = std::string("a\0b", 3); }, "\"job.command[1]\" contains a NUL");
  expect_rejected([](json& j) { j["job"]["cwd"] = "run"; }, "\"job.cwd\" is not an absolute path");
  expect_rejected([](json& j) { j["job"]["name"] = ""; }, "\"job.name\" is empty");
  expect_rejected([](json& j) { j["job"]["environment"]["A=B"] = "x"; }, "bad variable name \"A=B\"");
  expect_rejected([](json& j) { j["job"]["environment"][""] = "x"; }, "bad variable name");
  expect_rejected([](json& j) { j["ranks"][0]["host"] = ""; }, "\"ranks[0].host\" is empty");
}

// Every proper prefix of a valid manifest is refused, without a crash (the
// only exception: dropping the final newline).
TEST(Manifest, EveryTruncationRejected) {
  const std::string text = mf::to_text(sample(4));
  ASSERT_EQ(text.back(), '\n');
  for (size_t n = 0; n + 1 < text.size(); ++n) {
    const std::string msg = parse_error(text.substr(0, n));
    ASSERT_NE(msg, "") << "prefix of " << n << " bytes accepted";
    ASSERT_EQ(msg.rfind("t.json: ", 0), 0u) << msg;
  }
  EXPECT_EQ(parse_error(text.substr(0, text.size() - 1)), "");
}

TEST(Manifest, ToTextRefusesWhatJsonCannotSay) {
  mf::Manifest m = sample();
  m.environment.emplace_back("A_VAR", "again");
  EXPECT_THROW(mf::to_text(m), mf::Error);
  m = sample();
  m.cwd = "/home/\xff";
  try {
    mf::to_text(m);
    ADD_FAILURE() << "invalid UTF-8 written";
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
  }
}

TEST(ManifestFiles, WriteIsAtomicAndPrivate) {
  TempDir d;
  const mf::Manifest m = sample();
  mf::write(d.path, m);
  const std::string path = d.path + "/job.manifest.json";
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(d.names(), std::vector<std::string>{"job.manifest.json"});  // no temporary file left
  EXPECT_EQ(slurp(path), mf::to_text(m));
  expect_equal(mf::read(path), m);
  // Replacing it, under a permissive umask: still 0600, still one file.
  mode_t old = umask(0);
  mf::Manifest m2 = sample(5);
  m2.epoch = 8;
  mf::write(d.path, m2);
  umask(old);
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(d.names(), std::vector<std::string>{"job.manifest.json"});
  EXPECT_EQ(mf::read(path).epoch, 8u);
}

TEST(ManifestFiles, WriteFailsCleanly) {
  TempDir d;
  // No such folder.
  try {
    mf::write(d.path + "/none", sample());
    ADD_FAILURE() << "wrote into a missing folder";
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
  // An invalid manifest is never written.
  mf::Manifest bad = sample();
  bad.ranks[1].image = "../escape";
  try {
    mf::write(d.path, bad);
    ADD_FAILURE() << "wrote an invalid manifest";
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("refusing to write an invalid manifest"), std::string::npos);
  }
  EXPECT_TRUE(d.names().empty());
  // A read-only folder (root ignores the mode: manifest_write_full.sh covers
  // it with a read-only mount).
  if (geteuid() != 0) {
    chmod(d.path.c_str(), 0500);
    EXPECT_THROW(mf::write(d.path, sample()), mf::Error);
    chmod(d.path.c_str(), 0700);
    EXPECT_TRUE(d.names().empty());
  }
}

TEST(ManifestFiles, LocateAndRead) {
  TempDir d;
  try {
    mf::locate(d.path);
    ADD_FAILURE() << "an empty folder located";
  } catch (const mf::Error& e) {
    EXPECT_EQ(std::string(e.what()), "no job.manifest.json in " + d.path + ": not a complete checkpoint");
  }
  EXPECT_THROW(mf::locate(d.path + "/missing"), mf::Error);
  mf::write(d.path, sample());
  EXPECT_EQ(mf::locate(d.path), d.path + "/job.manifest.json");
  EXPECT_EQ(mf::locate(d.path + "/"), d.path + "/job.manifest.json");
  EXPECT_EQ(mf::locate(d.path + "/job.manifest.json"), d.path + "/job.manifest.json");
  EXPECT_EQ(mf::folder_of(d.path + "/job.manifest.json"), d.path);
  EXPECT_EQ(mf::folder_of("job.manifest.json"), ".");
  EXPECT_THROW(mf::read(d.path + "/missing.json"), mf::Error);
  EXPECT_THROW(mf::read(d.path), mf::Error);  // a folder
  const std::string fifo = d.path + "/fifo.json";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  try {
    mf::read(fifo);  // must not wait for a writer
    ADD_FAILURE() << "read a FIFO";
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  std::ofstream(d.path + "/empty.json").close();
  try {
    mf::read(d.path + "/empty.json");
    ADD_FAILURE() << "read an empty manifest";
  } catch (const mf::Error& e) {
    EXPECT_NE(std::string(e.what()).find(d.path + "/empty.json: not valid JSON"), std::string::npos);
  }
}

// ------------------------------------------------ real images (fixture)

class ManifestImages : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* job = getenv("CRMPI_TEST_JOB");
    if (!job || access((std::string(job) + "/job.manifest.json").c_str(), R_OK) != 0)
      GTEST_SKIP() << "no job checkpoint in $CRMPI_TEST_JOB (run through ctest: manifest_job.sh)";
    fs::copy(job, dir_.path, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    m_ = mf::read(mf::locate(dir_.path));
    ASSERT_GE(m_.ranks.size(), 3u);
  }
  std::string image(int r) const { return dir_.path + "/" + m_.ranks[r].image; }
  // validate_images' message, or "".
  std::string problem(int expect = 0, bool deep = false) const {
    try {
      mf::validate_images(m_, dir_.path, expect, deep);
    } catch (const mf::Error& e) {
      return e.what();
    }
    return "";
  }
  void flip(int r, uint64_t offset) const {
    int fd = open(image(r).c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char c;
    ASSERT_EQ(pread(fd, &c, 1, offset), 1);
    c ^= 0x5a;
    ASSERT_EQ(pwrite(fd, &c, 1, offset), 1);
    close(fd);
  }
  TempDir dir_;
  mf::Manifest m_;
};

TEST_F(ManifestImages, Good) {
  EXPECT_EQ(problem(), "");
  EXPECT_EQ(problem(static_cast<int>(m_.ranks.size()), true), "");
  for (const mf::RankImage& r : m_.ranks) EXPECT_EQ(mf::image_problem(m_, dir_.path, r, true), "");
}

TEST_F(ManifestImages, WrongRankCount) {
  const int n = static_cast<int>(m_.ranks.size());
  EXPECT_EQ(problem(n + 1), dir_.path + "/job.manifest.json: the checkpoint has " +
                                std::to_string(n) + " ranks, but " + std::to_string(n + 1) +
                                " were asked for");
  EXPECT_NE(problem(n - 1).find("were asked for"), std::string::npos);
}

TEST_F(ManifestImages, Missing) {
  fs::remove(image(1));
  EXPECT_EQ(problem(), dir_.path + "/job.manifest.json: rank 1: image rank.1.e1.img: missing");
}

TEST_F(ManifestImages, Truncated) {
  fs::resize_file(image(2), m_.ranks[2].bytes / 2);
  const std::string p = problem();
  EXPECT_NE(p.find("rank 2: image rank.2.e1.img: truncated ("), std::string::npos) << p;
}

TEST_F(ManifestImages, FlippedPageByteNeedsTheDeepCheck) {
  crimg::Image img = crimg::Image::open(image(0));
  ASSERT_FALSE(img.chunks.empty());
  const crimg::ChunkRef& c = img.chunks.back();
  flip(0, c.payload_offset + c.hdr.stored_size - 1);
  // The digest covers the section headers, which hold the payload's
  // checksum, not the payload: only reading the pages finds this.
  EXPECT_EQ(problem(), "");
  const std::string p = problem(0, true);
  EXPECT_NE(p.find("rank 0: image rank.0.e1.img: corrupt image"), std::string::npos) << p;
  EXPECT_NE(p.find("checksum"), std::string::npos) << p;
}

TEST_F(ManifestImages, FlippedHeaderByte) {
  flip(1, 40);  // image_id: the header checksum no longer matches
  const std::string p = problem();
  EXPECT_NE(p.find("rank 1: image rank.1.e1.img: corrupt image: header checksum mismatch"),
            std::string::npos) << p;
}

TEST_F(ManifestImages, NotAnImageOrAnotherVersion) {
  flip(1, 0);
  EXPECT_NE(problem().find("rank 1: image rank.1.e1.img: not a crmpi process image"), std::string::npos);
  flip(1, 0);
  int fd = open(image(2).c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const char v = 99;
  ASSERT_EQ(pwrite(fd, &v, 1, 8), 1);
  close(fd);
  EXPECT_NE(problem().find("rank 2: image rank.2.e1.img: unsupported image version 99"), std::string::npos)
      << problem();
  m_.image_version = 99;
  EXPECT_NE(problem().find("the images are in format version 99, this build reads version"),
            std::string::npos);
}

TEST_F(ManifestImages, SizeOrDigestDiffers) {
  m_.ranks[1].bytes += 4096;
  EXPECT_NE(problem().find("rank 1: image rank.1.e1.img: size differs: "), std::string::npos) << problem();
  m_.ranks[1].bytes -= 4096;
  m_.ranks[2].digest ^= 1;
  EXPECT_NE(problem().find("rank 2: image rank.2.e1.img: digest differs: "), std::string::npos) << problem();
  m_.ranks[2].digest ^= 1;
  // Another rank's (valid) image in its place.
  fs::copy_file(image(0), image(1), fs::copy_options::overwrite_existing);
  const std::string p = problem();
  EXPECT_TRUE(p.find("rank 1: image rank.1.e1.img: size differs") != std::string::npos ||
              p.find("rank 1: image rank.1.e1.img: digest differs") != std::string::npos) << p;
}
