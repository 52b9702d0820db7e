// protocol_test.cpp -- the typed lower-half protocol (crmpi/protocol.h):
// where each operation's fields lie in Msg::a, and that what one endpoint
// writes by name the other reads by name.  A layout change that forgets to
// bump chan::kVersion fails here.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>

#include "crmpi/channel.h"
#include "crmpi/protocol.h"

namespace chan = crmpi::chan;

namespace {

// Word index of a field inside Msg::a.
template <typename S>
constexpr size_t word(size_t offset) {
  return offset / sizeof(uint64_t);
}

TEST(Protocol, VersionAndSizes) {
  EXPECT_EQ(chan::kVersion, 5u);
  EXPECT_EQ(sizeof(chan::Args), chan::kArgWords * sizeof(uint64_t));
  EXPECT_EQ(sizeof(chan::Msg), 24 + chan::kArgWords * 8 + 3 * sizeof(chan::Buf));
  EXPECT_EQ(offsetof(chan::Msg, a), 24u);
  EXPECT_EQ(offsetof(chan::Msg, src), 24u + chan::kArgWords * 8);
  // Version 5: a completion's status names the communicator MPI_Comm_idup made.
  EXPECT_EQ(sizeof(chan::WireStatus), 32u);
  EXPECT_EQ(offsetof(chan::WireStatus, made), 24u);
}

// Version 3's layout, word by word: changing one of these is a protocol
// change (bump chan::kVersion and update this table and docs/protocol.md).
TEST(Protocol, FieldPlaces) {
  // Version 3: the job checkpoint's fields.
  EXPECT_EQ(word<chan::CommArgs>(offsetof(chan::CommArgs, parent_id)), 3u);
  EXPECT_EQ(word<chan::CommArgs>(offsetof(chan::CommArgs, counter)), 4u);
  EXPECT_EQ(word<chan::CommOut>(offsetof(chan::CommOut, id)), 3u);
  EXPECT_EQ(word<chan::CommRebuildArgs>(offsetof(chan::CommRebuildArgs, size)), 2u);
  EXPECT_EQ(word<chan::CkptArgs>(offsetof(chan::CkptArgs, messages)), 1u);
  EXPECT_EQ(word<chan::CkptMessageArgs>(offsetof(chan::CkptMessageArgs, bytes)), 3u);
  EXPECT_EQ(word<chan::SendArgs>(offsetof(chan::SendArgs, comm)), 4u);
  EXPECT_EQ(word<chan::SendArgs>(offsetof(chan::SendArgs, dest_world)), 7u);
  EXPECT_EQ(word<chan::RecvArgs>(offsetof(chan::RecvArgs, status)), 10u);
  EXPECT_EQ(word<chan::ProbeArgs>(offsetof(chan::ProbeArgs, message)), 8u);
  EXPECT_EQ(word<chan::ProbeArgs>(offsetof(chan::ProbeArgs, flag)), 9u);
  EXPECT_EQ(word<chan::MrecvArgs>(offsetof(chan::MrecvArgs, message)), 8u);
  EXPECT_EQ(word<chan::SendrecvArgs>(offsetof(chan::SendrecvArgs, rtype)), 6u);
  EXPECT_EQ(word<chan::SendrecvArgs>(offsetof(chan::SendrecvArgs, rtag)), 9u);
  EXPECT_EQ(word<chan::CompleteArgs>(offsetof(chan::CompleteArgs, flag)), 4u);
  EXPECT_EQ(word<chan::CollArgs>(offsetof(chan::CollArgs, comm_size)), 11u);
  EXPECT_EQ(word<chan::HelloOut>(offsetof(chan::HelloOut, version)), 12u);
  EXPECT_EQ(word<chan::UserOpCallback>(offsetof(chan::UserOpCallback, done)), 7u);
  EXPECT_EQ(word<chan::PullCallback>(offsetof(chan::PullCallback, copied)), 3u);
}

// Every call with a status result leaves it in the same words, so that one
// reader (status_from_call) serves receives, probes and sendrecv alike.
TEST(Protocol, OneStatusPlaceForAll) {
  chan::Msg m;
  memset(&m, 0, sizeof m);
  m.a.recv.status = {3, 7, 0, 4096, 0};
  EXPECT_EQ(m.a.probe.status.source, 3u);
  EXPECT_EQ(m.a.mrecv.status.tag, 7u);
  EXPECT_EQ(m.a.sendrecv.status.ucount, 4096u);
}

// Nonblocking calls answer with a request id in the first word, over their
// arguments; the app reads it as RequestArgs whatever the operation was.
TEST(Protocol, RequestOutOverArguments) {
  chan::Msg m;
  memset(&m, 0, sizeof m);
  m.a.send = {1, 2, 3, 4, 5, chan::kStandard, 0, 0};
  m.a.request.request = 0xfeed;
  EXPECT_EQ(m.a.request.request, 0xfeedu);
  EXPECT_EQ(m.a.send.count, 2u);  // the rest of the arguments are untouched
  m.a.coll.kind = chan::kBcast;
  m.a.request.request = 0xbeef;
  EXPECT_EQ(m.a.coll.kind, 0xbeefu);  // and it overwrites the first word
}

// What one endpoint writes by name survives a copy of the slot (the
// channel) and reads back by name on the other side.
TEST(Protocol, RoundTripThroughTheSlot) {
  chan::Msg app;
  memset(&app, 0, sizeof app);
  app.op = chan::kOpColl;
  app.a.coll = {chan::kAllreduce, 0x1000, 0x2000, 8, 0x2000, 8, 0, 0x3000, 1, 0x4000, 0x5000, 4};
  app.extra = {0, 64, 128, chan::kInline, 0};
  alignas(64) unsigned char slot[sizeof(chan::Msg)];
  memcpy(slot, &app, sizeof app);
  chan::Msg agent;
  memcpy(&agent, slot, sizeof agent);
  EXPECT_EQ(agent.op, chan::kOpColl);
  EXPECT_EQ(agent.a.coll.kind, chan::kAllreduce);
  EXPECT_EQ(agent.a.coll.op, 0x3000u);
  EXPECT_EQ(agent.a.coll.user_op, 0x4000u);
  EXPECT_EQ(agent.a.coll.comm_size, 4u);
  EXPECT_EQ(agent.extra.mode, static_cast<uint32_t>(chan::kInline));
  EXPECT_EQ(agent.extra.off, 128u);
}

}  // namespace
