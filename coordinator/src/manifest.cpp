// manifest.cpp -- job.manifest.json: its JSON text (to_text, parse), its
// durable writing, and the checks of the images it names (crmpi/manifest.h;
// the layout is documented in docs/formats.md, "Job manifest").
#include "crmpi/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <thread>
#include <vector>
#include <nlohmann/json.hpp>

#include "reader.h"

namespace crmpi::manifest {

namespace {

using json = nlohmann::json;          // parsing: std::map objects (no quadratic lookups)
using ojson = nlohmann::ordered_json;  // writing: fields in the documented order

constexpr const char* kSchema = "crmpi.job-manifest";
constexpr size_t kMaxText = 64u << 20;
constexpr int kMaxDepth = 64;
constexpr uint64_t kMaxRanks = 1u << 20;
constexpr size_t kMaxName = 255;  // NAME_MAX

std::string errno_text(int e, const std::string& dir) {
  std::string s = strerror(e);
  if (e == ENOSPC) s += " (the file system holding " + dir + " is full)";
  return s;
}

// A value as the message shows it: its JSON, cut short.
std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

// The fields of one manifest being parsed: every failure names the
// manifest (`what`) and the field by its path ("ranks[2].digest").
class Fields {
 public:
  explicit Fields(const std::string& what) : what_(what) {}

  [[noreturn]] void fail(const std::string& problem) const { throw Error(what_ + ": " + problem); }

  const json& member(const json& obj, const std::string& path) const {
    const size_t dot = path.rfind('.');
    const std::string key = dot == std::string::npos ? path : path.substr(dot + 1);
    auto it = obj.find(key);
    if (it == obj.end()) fail("missing field \"" + path + "\"");
    return *it;
  }
  const json& object(const json& obj, const std::string& path) const {
    const json& v = member(obj, path);
    if (!v.is_object()) fail("field \"" + path + "\" must be an object, not " + shown(v));
    return v;
  }
  const json& array(const json& obj, const std::string& path) const {
    const json& v = member(obj, path);
    if (!v.is_array()) fail("field \"" + path + "\" must be an array, not " + shown(v));
    return v;
  }
  bool boolean(const json& obj, const std::string& path) const {
    const json& v = member(obj, path);
    if (!v.is_boolean()) fail("field \"" + path + "\" must be true or false, not " + shown(v));
    return v.get<bool>();
  }
  uint64_t number(const json& obj, const std::string& path, uint64_t min, uint64_t max) const {
    return number_value(member(obj, path), path, min, max);
  }
  uint64_t number_value(const json& v, const std::string& path, uint64_t min, uint64_t max) const {
    // Negative integers are number_integer, not number_unsigned; integers
    // beyond 64 bits and fractions are number_float.
    const bool ok = v.is_number_unsigned() && v.get<uint64_t>() >= min && v.get<uint64_t>() <= max;
    if (!ok) {
      fail("field \"" + path + "\" must be an integer in " + std::to_string(min) + ".." +
           std::to_string(max) + ", not " + shown(v));
    }
    return v.get<uint64_t>();
  }
  std::string string(const json& obj, const std::string& path, bool nonempty = true) const {
    return string_value(member(obj, path), path, nonempty);
  }
  // Every string: no NUL (none can reach exec, the environment or a path).
  std::string string_value(const json& v, const std::string& path, bool nonempty = true) const {
    if (!v.is_string()) fail("field \"" + path + "\" must be a string, not " + shown(v));
    std::string s = v.get<std::string>();
    if (nonempty && s.empty()) fail("field \"" + path + "\" is empty");
    if (s.find('\0') != std::string::npos) fail("field \"" + path + "\" contains a NUL character");
    return s;
  }
  std::vector<std::string> strings(const json& obj, const std::string& path) const {
    std::vector<std::string> out;
    const json& a = array(obj, path);
    for (size_t i = 0; i < a.size(); ++i)
      out.push_back(string_value(a[i], path + "[" + std::to_string(i) + "]", false));
    return out;
  }

 private:
  const std::string& what_;
};

bool is_utc_time(const std::string& t) {  // YYYY-MM-DDTHH:MM:SSZ
  static const char pattern[] = "dddd-dd-ddTdd:dd:ddZ";
  if (t.size() != sizeof pattern - 1) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    if (pattern[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != pattern[i]) return false;
  }
  return true;
}

void check_image_name(const Fields& f, const std::string& name, const std::string& path) {
  std::string bad;
  if (name.size() > kMaxName) bad = "longer than " + std::to_string(kMaxName) + " bytes";
  if (name == "." || name.find("..") != std::string::npos) bad = "contains \"..\" or is \".\"";
  if (name.find('/') != std::string::npos) bad = "contains '/' (images live in the manifest's folder)";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) bad = "contains a control character";
  if (!bad.empty()) f.fail("field \"" + path + "\": image name \"" + name.substr(0, 64) + "\" " + bad);
}

uint64_t parse_digest(const Fields& f, const std::string& s, const std::string& path) {
  bool ok = s.size() == 16;
  for (char c : s) ok = ok && isxdigit(static_cast<unsigned char>(c));
  if (!ok) f.fail("field \"" + path + "\" must be 16 hex digits, not \"" + s.substr(0, 40) + "\"");
  return strtoull(s.c_str(), nullptr, 16);
}

void parse_job(const Fields& f, const json& root, Manifest& m) {
  const json& job = f.object(root, "job");
  m.job_name = f.string(job, "job.name");
  m.command = f.strings(job, "job.command");
  if (m.command.empty() || m.command[0].empty()) f.fail("field \"job.command\" names no program");
  m.mpirun_options = f.strings(job, "job.mpirun_options");
  m.cwd = f.string(job, "job.cwd");
  if (m.cwd[0] != '/') f.fail("field \"job.cwd\" is not an absolute path: \"" + m.cwd + "\"");
  const json& env = f.object(job, "job.environment");
  for (auto it = env.begin(); it != env.end(); ++it) {
    const std::string path = "job.environment." + it.key();
    if (it.key().empty() || it.key().find_first_of(std::string("=\0", 2)) != std::string::npos)
      f.fail("field \"job.environment\": bad variable name \"" + it.key().substr(0, 40) + "\"");
    m.environment.emplace_back(it.key(), f.string_value(it.value(), path, false));
  }
  m.preload = f.boolean(job, "job.preload");
}

RankImage parse_rank(const Fields& f, const json& r, size_t i, uint64_t nranks) {
  const std::string p = "ranks[" + std::to_string(i) + "]";
  if (!r.is_object()) f.fail("field \"" + p + "\" must be an object, not " + shown(r));
  RankImage ri;
  ri.rank = static_cast<int>(f.number(r, p + ".rank", 0, nranks - 1));
  ri.host = f.string(r, p + ".host");
  ri.image = f.string(r, p + ".image");
  check_image_name(f, ri.image, p + ".image");
  ri.bytes = f.number(r, p + ".bytes", 1, UINT64_MAX);
  ri.digest = parse_digest(f, f.string(r, p + ".digest"), p + ".digest");
  ri.app_pid = static_cast<int>(f.number(r, p + ".app_pid", 0, INT_MAX));
  return ri;
}

void parse_ranks(const Fields& f, const json& root, Manifest& m) {
  const uint64_t n = f.number(root, "nranks", 1, kMaxRanks);
  const json& ranks = f.array(root, "ranks");
  if (ranks.size() != n) {
    f.fail("\"nranks\" is " + std::to_string(n) + " but \"ranks\" lists " +
           std::to_string(ranks.size()));
  }
  std::vector<int> at(n, -1);  // rank -> its place in the file
  for (size_t i = 0; i < n; ++i) {
    RankImage ri = parse_rank(f, ranks[i], i, n);
    if (at[ri.rank] >= 0) {
      f.fail("rank " + std::to_string(ri.rank) + " is listed twice (ranks[" +
             std::to_string(at[ri.rank]) + "] and ranks[" + std::to_string(i) + "])");
    }
    at[ri.rank] = static_cast<int>(i);
    m.ranks.push_back(std::move(ri));
  }
  // n entries, each in 0..n-1, none twice: every rank is there.
  std::sort(m.ranks.begin(), m.ranks.end(),
            [](const RankImage& a, const RankImage& b) { return a.rank < b.rank; });
  std::vector<std::string> names;
  for (const RankImage& r : m.ranks) names.push_back(r.image);
  std::sort(names.begin(), names.end());
  auto dup = std::adjacent_find(names.begin(), names.end());
  if (dup != names.end()) f.fail("two ranks name the same image \"" + *dup + "\"");
}

json parse_json(const Fields& f, const std::string& text) {
  if (text.size() > kMaxText)
    f.fail("larger than " + std::to_string(kMaxText >> 20) + " MiB: not a job manifest");
  // The parser is iterative, but refuse absurd nesting anyway (a manifest
  // is 4 levels deep).
  json::parser_callback_t cb = [&f](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDepth) f.fail("not a job manifest: JSON nested deeper than 64 levels");
    return true;
  };
  try {
    return json::parse(text, cb);
  } catch (const json::exception& e) {
    std::string msg = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (size_t b = msg.find("] "); msg.rfind("[json.exception", 0) == 0 && b != std::string::npos)
      msg = msg.substr(b + 2);
    f.fail("not valid JSON: " + msg);
  }
}

std::string hex16(uint64_t v) {
  char b[17];
  snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

ojson encode(const Manifest& m, const std::string& what) {
  ojson env = ojson::object();
  for (const auto& [k, v] : m.environment) {
    if (env.contains(k)) throw Error(what + ": the environment sets \"" + k + "\" twice");
    env[k] = v;
  }
  ojson ranks = ojson::array();
  for (const RankImage& r : m.ranks) {
    ranks.push_back({{"rank", r.rank}, {"host", r.host}, {"image", r.image}, {"bytes", r.bytes},
                     {"digest", hex16(r.digest)}, {"app_pid", r.app_pid}});
  }
  return ojson{
      {"schema", kSchema},
      {"schema_version", kSchemaVersion},
      {"epoch", m.epoch},
      {"time", m.time},
      {"job",
       {{"name", m.job_name},
        {"command", m.command},
        {"mpirun_options", m.mpirun_options},
        {"cwd", m.cwd},
        {"environment", env},
        {"preload", m.preload}}},
      {"formats",
       {{"image", m.image_version}, {"channel", m.channel_version}, {"protocol", m.protocol_version}}},
      {"nranks", m.ranks.size()},
      {"ranks", ranks},
  };
}

std::string to_text_as(const Manifest& m, const std::string& what) {
  try {
    return encode(m, what).dump(2) + "\n";
  } catch (const ojson::exception& e) {
    // Only a string that is not UTF-8 makes dump() throw.
    throw Error(what + ": cannot be written as JSON (a command argument, path, name or "
                       "environment value is not valid UTF-8): " + e.what());
  }
}

}  // namespace

std::string image_name(int rank, uint32_t epoch) {
  return "rank." + std::to_string(rank) + ".e" + std::to_string(epoch) + ".img";
}

std::string to_text(const Manifest& m) { return to_text_as(m, "job manifest"); }

Manifest parse(const std::string& text, const std::string& what) {
  const Fields f(what);
  const json root = parse_json(f, text);
  if (!root.is_object()) f.fail("not a job manifest: the JSON is not an object");
  // What the file is, then which layout, before anything that layout holds.
  auto schema = root.find("schema");
  if (schema == root.end() || !schema->is_string() || schema->get<std::string>() != kSchema) {
    f.fail(std::string("not a crmpi job manifest (\"schema\" is ") +
           (schema == root.end() ? "missing" : shown(*schema)) + ", not \"" + kSchema + "\")");
  }
  auto version = root.find("schema_version");
  if (version == root.end() || !version->is_number_integer())
    f.fail("\"schema_version\" is missing or not an integer");
  if (!version->is_number_unsigned() || version->get<uint64_t>() != kSchemaVersion) {
    f.fail("unsupported manifest schema version " + shown(*version) + " (this build reads version " +
           std::to_string(kSchemaVersion) + ")");
  }
  Manifest m;
  m.schema_version = kSchemaVersion;
  m.epoch = static_cast<uint32_t>(f.number(root, "epoch", 1, UINT32_MAX));
  m.time = f.string(root, "time");
  if (!is_utc_time(m.time))
    f.fail("field \"time\" is not UTC ISO 8601 (YYYY-MM-DDTHH:MM:SSZ): \"" + m.time.substr(0, 40) + "\"");
  parse_job(f, root, m);
  const json& fm = f.object(root, "formats");
  m.image_version = static_cast<uint32_t>(f.number(fm, "formats.image", 0, UINT32_MAX));
  m.channel_version = static_cast<uint32_t>(f.number(fm, "formats.channel", 0, UINT32_MAX));
  m.protocol_version = static_cast<uint32_t>(f.number(fm, "formats.protocol", 0, UINT32_MAX));
  parse_ranks(f, root, m);
  return m;
}

// ---------------------------------------------------------------- files

namespace {

// The temporary file write() fills: removed unless renamed into place.
class TempFile {
 public:
  TempFile(const std::string& final_path, const std::string& dir) : dir_(dir), final_(final_path) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      uint64_t r = 0;
      if (getrandom(&r, sizeof r, 0) != sizeof r) r = static_cast<uint64_t>(attempt) * 7919 + getpid();
      std::string suffix;
      static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
      for (int i = 0; i < 6; ++i, r /= 36) suffix += alnum[r % 36];
      path_ = final_path + ".tmp." + std::to_string(getpid()) + "." + suffix;
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd_ >= 0 || errno != EEXIST) break;
    }
    if (fd_ < 0) fail("cannot create", errno);
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write_all(const std::string& text) {
    // Mode 0600 whatever the umask (the umask can only have removed bits).
    if (fchmod(fd_, 0600) != 0) fail("cannot chmod", errno);
    for (size_t done = 0; done < text.size();) {
      ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot write", n < 0 ? errno : EIO);
      done += static_cast<size_t>(n);
    }
    if (fsync(fd_) != 0) fail("cannot write (fsync)", errno);
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("cannot write (close)", errno);
  }
  void rename_to(const std::string& final_path) {
    if (::rename(path_.c_str(), final_path.c_str()) != 0)
      fail("cannot rename into place", errno);
    path_.clear();  // nothing to remove any more
  }
  // "DIR/job.manifest.json: cannot write (temporary file job.manifest.json.tmp.PID.X): ..."
  [[noreturn]] void fail(const std::string& what, int e) const {
    const std::string tmp = path_.substr(path_.rfind('/') + 1);
    throw Error(final_ + ": " + what + " (temporary file " + tmp + "): " + errno_text(e, dir_));
  }

 private:
  std::string dir_, final_, path_;
  int fd_ = -1;
};

void fsync_dir(const std::string& dir, const std::string& what) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    int e = errno;
    if (fd >= 0) ::close(fd);
    throw Error(what + ": written, but cannot fsync its folder " + dir + ": " + errno_text(e, dir));
  }
  ::close(fd);
}

}  // namespace

void write(const std::string& dir, const Manifest& m) {
  const std::string path = dir + "/" + kFileName;
  const std::string text = to_text_as(m, path);
  try {
    parse(text, path);  // a writer's mistake must not leave an unreadable checkpoint
  } catch (const Error& e) {
    throw Error(std::string("refusing to write an invalid manifest: ") + e.what());
  }
  TempFile tmp(path, dir);
  tmp.write_all(text);
  tmp.rename_to(path);
  fsync_dir(dir, path);
}

std::string folder_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string locate(const std::string& arg) {
  struct stat st;
  if (stat(arg.c_str(), &st) != 0) throw Error(arg + ": " + strerror(errno));
  if (!S_ISDIR(st.st_mode)) return arg;
  const std::string path = (arg.size() > 1 && arg.back() == '/' ? arg.substr(0, arg.size() - 1) : arg) +
                           "/" + kFileName;
  if (stat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode))
    throw Error(std::string("no ") + kFileName + " in " + arg + ": not a complete checkpoint");
  return path;
}

Manifest read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(path + ": cannot open: " + strerror(errno));
  std::string text;
  struct stat st;
  std::string problem;
  if (fstat(fd, &st) != 0) {
    problem = std::string("cannot stat: ") + strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file";
  } else if (static_cast<uint64_t>(st.st_size) > kMaxText) {
    problem = "larger than " + std::to_string(kMaxText >> 20) + " MiB: not a job manifest";
  } else {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) problem = std::string("cannot read: ") + strerror(errno);
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > kMaxText) break;  // grew while read: parse() refuses it
    }
  }
  ::close(fd);
  if (!problem.empty()) throw Error(path + ": " + problem);
  return parse(text, path);
}

std::string image_problem(const Manifest& m, const std::string& dir, const RankImage& r, bool deep) {
  const std::string file = dir + "/" + r.image;
  struct stat st;
  if (stat(file.c_str(), &st) != 0)
    return errno == ENOENT ? "missing" : std::string("cannot access: ") + strerror(errno);
  try {
    crimg::Image img = crimg::Image::open(file);
    if (img.header.version != m.image_version) {
      return "image version " + std::to_string(img.header.version) + ", the manifest records " +
             std::to_string(m.image_version);
    }
    if (img.file_size != r.bytes) {
      return "size differs: " + std::to_string(img.file_size) + " bytes, the manifest records " +
             std::to_string(r.bytes);
    }
    if (img.digest != r.digest) {
      return "digest differs: " + hex16(img.digest) + ", the manifest records " + hex16(r.digest) +
             " (not the image this checkpoint wrote)";
    }
    if (deep) img.verify_pages();
  } catch (const crimg::ImageError& e) {
    // The reader's message is "FILE: problem"; the caller names the file.
    std::string msg = e.what();
    if (msg.rfind(file + ": ", 0) == 0) msg = msg.substr(file.size() + 2);
    if (static_cast<uint64_t>(st.st_size) < r.bytes) {
      msg = "truncated (" + std::to_string(st.st_size) + " of " + std::to_string(r.bytes) +
            " bytes): " + msg;
    }
    return msg;
  }
  return "";
}

void validate_images(const Manifest& m, const std::string& dir, int expect_ranks, bool deep) {
  const std::string what = dir + "/" + kFileName;
  if (expect_ranks > 0 && m.ranks.size() != static_cast<size_t>(expect_ranks)) {
    throw Error(what + ": the checkpoint has " + std::to_string(m.ranks.size()) + " ranks, but " +
                std::to_string(expect_ranks) + " were asked for");
  }
  if (m.image_version != crimg::kVersion) {
    throw Error(what + ": the images are in format version " + std::to_string(m.image_version) +
                ", this build reads version " + std::to_string(crimg::kVersion));
  }
  // Every image at once, one reader per image (at most kReaders at a time):
  // a disk with a deep queue (virtio, NVMe) reads several streams much
  // faster than one -- here 4 streams read 1 GiB cold at 3.5x the speed of
  // one -- and the pages it reads are in the page cache for the ranks'
  // restore.  The first problem in rank order is reported.
  constexpr size_t kReaders = 16;
  const size_t n = m.ranks.size();
  std::vector<std::string> problems(n);
  std::atomic<size_t> next{0};
  auto check = [&] {
    for (size_t i; (i = next++) < n;) {
      try {
        problems[i] = image_problem(m, dir, m.ranks[i], deep);
      } catch (const std::exception& e) {
        problems[i] = std::string("cannot check it: ") + e.what();
      }
    }
  };
  std::vector<std::thread> readers;
  for (size_t t = 1; t < std::min(n, kReaders); ++t) readers.emplace_back(check);
  check();
  for (std::thread& t : readers) t.join();
  for (size_t i = 0; i < n; ++i)
    if (!problems[i].empty())
      throw Error(what + ": rank " + std::to_string(m.ranks[i].rank) + ": image " + m.ranks[i].image +
                  ": " + problems[i]);
}

}  // namespace crmpi::manifest
