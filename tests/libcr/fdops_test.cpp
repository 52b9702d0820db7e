// fdops_test.cpp -- the fd kinds' ops table (libcr/src/fdkinds): every
// kind exactly once, classification from stat + flags + link target, and
// records written by encode_fd read back by the image reader.  Linked with
// crrestore, i.e. the table as cr_restart sees it (restore halves).
#include "../../libcr/src/fdkinds/fdops.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "reader.h"
#include "sample_image.h"

namespace {

constexpr uint32_t kFirstKind = crimg::kFdFile, kLastKind = crimg::kFdDeleted;

crfd::FdProbe probe(int fd, mode_t type, const char* path, int flags = O_RDWR) {
  crfd::FdProbe p;
  p.fd = fd;
  p.flags = flags;
  p.st.st_mode = type | 0644;
  p.path = path;
  p.path_len = strlen(path);
  p.deleted = p.path_len > 10 && strcmp(path + p.path_len - 10, " (deleted)") == 0;
  p.room = 1u << 24;
  return p;
}

uint32_t kind_of(const crfd::FdProbe& p) {
  return crfd::classify(p).kind;
}

TEST(FdOpsTable, EveryKindExactlyOnce) {
  std::set<const crfd::FdOps*> seen;
  for (uint32_t k = 0; k <= crfd::kMaxKind + 1; ++k) {
    const crfd::FdOps* o = crfd::ops_for(k);
    if (k < kFirstKind || k > kLastKind) {
      EXPECT_EQ(o, nullptr) << "kind " << k;
      continue;
    }
    ASSERT_NE(o, nullptr) << "kind " << k << " has no entry";
    EXPECT_EQ(o->kind, k);
    EXPECT_STREQ(o->name, crimg::fd_kind_name(k));
    EXPECT_NE(o->match, nullptr) << o->name;
    EXPECT_NE(o->restore, nullptr) << o->name;
    EXPECT_EQ(o->capture, nullptr) << o->name << ": runtime half in the restore build";
    EXPECT_TRUE(seen.insert(o).second) << o->name << " registered twice";
  }
  EXPECT_EQ(seen.size(), kLastKind - kFirstKind + 1);
}

TEST(FdOpsTable, KindsReopenedByPathCheckFirst) {
  for (uint32_t k : {crimg::kFdFile, crimg::kFdDir, crimg::kFdDevice})
    EXPECT_NE(crfd::ops_for(k)->check, nullptr) << crimg::fd_kind_name(k);
}

TEST(FdOpsClassify, ByTypeAndPath) {
  EXPECT_EQ(kind_of(probe(5, S_IFREG, "/tmp/a")), crimg::kFdFile);
  EXPECT_EQ(kind_of(probe(5, S_IFDIR, "/tmp")), crimg::kFdDir);
  EXPECT_EQ(kind_of(probe(5, S_IFCHR, "/dev/null")), crimg::kFdDevice);
  EXPECT_EQ(kind_of(probe(5, S_IFIFO, "pipe:[123]")), crimg::kFdPipe);
  EXPECT_EQ(kind_of(probe(5, S_IFSOCK, "socket:[9]")), crimg::kFdSocket);
  EXPECT_EQ(kind_of(probe(5, S_IFREG, "/tmp/x (deleted)")), crimg::kFdDeleted);
}

TEST(FdOpsClassify, WhatNoKindTakesIsUnknown) {
  EXPECT_EQ(kind_of(probe(5, 0, "anon_inode:[eventfd]")), crimg::kFdUnknown);
  EXPECT_EQ(kind_of(probe(5, S_IFIFO, "/tmp/fifo")), crimg::kFdUnknown);  // named FIFO
  EXPECT_EQ(kind_of(probe(5, S_IFCHR, "/proc/x")), crimg::kFdUnknown);
  EXPECT_EQ(kind_of(probe(5, S_IFBLK, "/dev/sda")), crimg::kFdUnknown);
  EXPECT_EQ(kind_of(probe(5, S_IFREG, "memfd:x (deleted)")), crimg::kFdUnknown);
}

TEST(FdOpsClassify, Precedence) {
  // stdio numbers win over any type; O_PATH over the type; libcr's own
  // image fd over everything.
  EXPECT_EQ(kind_of(probe(1, S_IFSOCK, "socket:[1]")), crimg::kFdStdio);
  EXPECT_EQ(kind_of(probe(0, S_IFREG, "/tmp/a")), crimg::kFdStdio);
  EXPECT_EQ(kind_of(probe(7, S_IFREG, "/tmp/a", O_PATH)), crimg::kFdPath);
  EXPECT_EQ(kind_of(probe(2, S_IFREG, "/tmp/a", O_PATH)), crimg::kFdStdio);
  crfd::FdProbe own = probe(1, S_IFREG, "/tmp/image");
  own.own_image = true;
  EXPECT_EQ(kind_of(own), crimg::kFdDevice);
}

TEST(FdOpsClassify, DeletedFilesOnlyWhenTheirBytesCanBeSaved) {
  crfd::FdProbe p = probe(5, S_IFREG, "/tmp/x (deleted)");
  p.st.st_size = 1000;
  EXPECT_EQ(kind_of(p), crimg::kFdDeleted);
  p.flags = O_WRONLY;
  EXPECT_EQ(kind_of(p), crimg::kFdUnknown);  // cannot read them back
  p.flags = O_RDONLY;
  p.st.st_size = static_cast<off_t>(crimg::kMaxDeletedFileBytes) + 1;
  EXPECT_EQ(kind_of(p), crimg::kFdUnknown);
  p.st.st_size = 1000;
  p.room = 1000;  // no room left in the section
  EXPECT_EQ(kind_of(p), crimg::kFdUnknown);
}

// No two kinds may claim the same probe at the same precedence: the
// winner would depend on the table's order.
TEST(FdOpsClassify, NoTieBetweenKinds) {
  const mode_t types[] = {0, S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_IFLNK};
  const char* paths[] = {
      "/tmp/a", "/dev/null", "pipe:[1]", "socket:[2]", "/tmp/a (deleted)", "anon_inode:[eventfd]",
      ""};
  const int flags[] = {-1, O_RDONLY, O_WRONLY, O_RDWR, O_PATH};
  for (int fd : {1, 5})
    for (mode_t t : types)
      for (const char* path : paths)
        for (int fl : flags)
          for (bool own : {false, true}) {
            crfd::FdProbe p = probe(fd, t, path, fl);
            p.own_image = own;
            std::vector<int> precs;
            for (uint32_t k = kFirstKind; k <= kLastKind; ++k) {
              const int prec = crfd::ops_for(k)->match(p);
              if (prec != crfd::kNoMatch) precs.push_back(prec);
            }
            std::set<int> uniq(precs.begin(), precs.end());
            EXPECT_EQ(uniq.size(), precs.size())
                << "fd " << fd << " mode " << t << " " << path << " flags " << fl << " own " << own;
          }
}

TEST(FdOpsRecord, BaseRecordFromProbe) {
  crfd::FdProbe p = probe(9, S_IFREG, "/tmp/a", O_RDWR | O_APPEND);
  p.fd_flags = FD_CLOEXEC;
  p.offset = 1234;
  p.st.st_dev = 7;
  p.st.st_ino = 99;
  p.st.st_size = 4096;
  p.st.st_mtim = {5, 6};
  const crimg::FdRecord r = crfd::base_record(p);
  EXPECT_EQ(r.fd, 9);
  EXPECT_EQ(r.kind, 0u);  // left to the kind
  EXPECT_EQ(r.open_flags, static_cast<uint32_t>(O_RDWR | O_APPEND));
  EXPECT_EQ(r.fd_flags, static_cast<uint32_t>(FD_CLOEXEC));
  EXPECT_EQ(r.offset, 1234);
  EXPECT_EQ(r.dev, 7u);
  EXPECT_EQ(r.ino, 99u);
  EXPECT_EQ(r.size, 4096u);
  EXPECT_EQ(r.mtime_ns, 5000000006LL);
  EXPECT_EQ(r.mode, static_cast<uint32_t>(S_IFREG | 0644));
  p.flags = -1;  // F_GETFL failed
  EXPECT_EQ(crfd::base_record(p).open_flags, 0u);
}

// Records encoded as the capture writes them come back from a real image.
TEST(FdOpsRecord, RoundTripThroughAnImage) {
  struct Case {
    crfd::FdProbe p;
    std::string data;
  };
  std::vector<Case> cases = {
      {probe(1, S_IFCHR, "/dev/pts/0"), ""},
      {probe(4, S_IFREG, "/tmp/a", O_WRONLY | O_APPEND), ""},
      {probe(5, S_IFIFO, "pipe:[77]", O_RDONLY), std::string("in\0pipe", 7)},
      {probe(6, S_IFREG, "/tmp/gone (deleted)"), "kept bytes"},
      {probe(7, S_IFSOCK, "socket:[8]"), ""},
  };
  char buf[8192];
  crimg::Encoder e(buf, sizeof buf);
  e.pod(static_cast<uint32_t>(cases.size()));
  for (Case& c : cases) {
    c.p.offset = c.p.fd * 10;
    crimg::FdRecord r = crfd::base_record(c.p);
    r.kind = crfd::classify(c.p).kind;
    if (r.kind == crimg::kFdPipe) r.pipe_id = 77;
    const size_t plen = r.kind == crimg::kFdDeleted ? c.p.path_len - 10 : c.p.path_len;
    e.pod(r);
    e.str(c.p.path, plen);
    e.str(c.data.data(), c.data.size());
  }
  ASSERT_FALSE(e.overflow());
  const std::string fds(e.data(), e.size());

  const size_t npages = 4;
  char* mem = static_cast<char*>(mmap(nullptr, npages * crtest::kPage, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(mem, MAP_FAILED);
  const std::string path =
      std::string(::testing::TempDir()) + "/crfd_roundtrip_" + std::to_string(getpid());
  ASSERT_EQ(crtest::write_sample_image(path, mem, npages, 0, &fds), "");
  crimg::Image img = crimg::Image::open(path);
  unlink(path.c_str());
  munmap(mem, npages * crtest::kPage);

  ASSERT_EQ(img.fds.size(), cases.size());
  const uint32_t want[] = {crimg::kFdStdio, crimg::kFdFile, crimg::kFdPipe, crimg::kFdDeleted,
                           crimg::kFdSocket};
  for (size_t i = 0; i < cases.size(); ++i) {
    const crimg::FdInfo& f = img.fds[i];
    EXPECT_EQ(f.rec.kind, want[i]) << i;
    EXPECT_EQ(f.rec.fd, cases[i].p.fd);
    EXPECT_EQ(f.rec.offset, cases[i].p.fd * 10);
    EXPECT_EQ(f.rec.open_flags, static_cast<uint32_t>(cases[i].p.flags));
    EXPECT_EQ(f.data, cases[i].data);
    EXPECT_NE(crfd::ops_for(f.rec.kind), nullptr);
  }
  EXPECT_EQ(img.fds[2].rec.pipe_id, 77u);
  EXPECT_EQ(img.fds[3].path, "/tmp/gone");  // the name it had, not the link
}

TEST(FdOpsRecord, EncodeFdIsRecordPathData) {
  char buf[512];
  crimg::Encoder e(buf, sizeof buf);
  crimg::FdRecord r{};
  r.fd = 3;
  r.kind = crimg::kFdDevice;
  crfd::encode_fd(e, r, "/dev/null", "xy", 2);
  ASSERT_EQ(e.size(), sizeof r + 4 + 9 + 4 + 2);
  crimg::FdRecord back;
  memcpy(&back, e.data(), sizeof back);
  EXPECT_EQ(back.fd, 3);
  EXPECT_EQ(back.kind, static_cast<uint32_t>(crimg::kFdDevice));
  uint32_t len;
  memcpy(&len, e.data() + sizeof r, 4);
  EXPECT_EQ(len, 9u);
  EXPECT_EQ(std::string(e.data() + sizeof r + 4, 9), "/dev/null");
}

}  // namespace
