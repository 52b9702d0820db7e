// job_control.cpp -- crmpirun's job control socket.  See crmpi/job_control.h.
#include "crmpi/job_control.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "coord_impl.h"  // now_ms

namespace crmpi::jobctl {
namespace {

constexpr long kRequestMs = 5000;

void copy_text(char* dst, size_t n, const std::string& s) {
  const size_t k = s.size() < n - 1 ? s.size() : n - 1;
  memcpy(dst, s.data(), k);
  dst[k] = '\0';
}

void send_reply(int fd, const WireReply& r) { send(fd, &r, sizeof r, MSG_NOSIGNAL | MSG_DONTWAIT); }

const char* refusal(crctl::Refusal r) {
  switch (r) {
    case crctl::kRefusedChangedIds: return "crmpirun runs with changed ids: only root may checkpoint it";
    case crctl::kRefusedNotDumpable: return "crmpirun is not dumpable: only root may checkpoint it";
    default: return "the job belongs to another user";
  }
}

}  // namespace

WireReply final_reply(int status, const std::string& text) {
  WireReply r = {};
  r.magic = kReplyMagic;
  r.kind = kFinal;
  r.status = status;
  copy_text(r.text, sizeof r.text, text);
  return r;
}

JobControlServer::~JobControlServer() { close(); }

bool JobControlServer::listen(std::string* err) {
  pid_ = getpid();
  crctl::FolderProblem why = crctl::kFolderOk;
  lfd_ = crctl::listen_socket(pid_, geteuid(), &why, crctl::kSocketJob);
  if (lfd_ < 0) {
    char dir[64];
    crctl::socket_folder(geteuid(), dir, sizeof dir);
    *err = why != crctl::kFolderOk
               ? std::string("the control socket folder ") + dir + " " + crctl::folder_problem_text(why)
               : std::string("cannot listen on the job control socket: ") + strerror(-lfd_);
    return false;
  }
  fcntl(lfd_, F_SETFL, fcntl(lfd_, F_GETFL) | O_NONBLOCK);  // accept_all drains it
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.fd = lfd_;
  epoll_ctl(ep_, EPOLL_CTL_ADD, lfd_, &ev);
  return true;
}

void JobControlServer::close() {
  for (auto& [fd, c] : conns_) ::close(fd);
  conns_.clear();
  if (lfd_ >= 0) {
    ::close(lfd_);
    crctl::unlink_socket(pid_, geteuid(), crctl::kSocketJob);
  }
  if (ep_ >= 0) ::close(ep_);
  lfd_ = ep_ = active_fd_ = -1;
}

void JobControlServer::accept_all() {
  for (;;) {
    const int fd = accept4(lfd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    uid_t peer = 0;
    if (conns_.size() > 16) {  // requesters beyond reason
      send_reply(fd, final_reply(EBUSY, "too many requests at once"));
      ::close(fd);
      continue;
    }
    // A refused peer gets its answer after we have read its request, as
    // libcr does: a reply to a peer whose message is still unread would
    // reach it as a connection reset, and the reason would be lost.
    if (crctl::Refusal r = crctl::may_request(fd, &peer))
      conns_[fd].refused = std::string("permission denied: ") + refusal(r);
    conns_[fd].deadline = coord::now_ms() + kRequestMs;
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void JobControlServer::end(int fd) {
  epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  conns_.erase(fd);
  if (active_fd_ == fd) active_fd_ = -1;
}

// A connection is readable: its request, or (afterwards) its hangup.
void JobControlServer::serve(coord::Coordinator& c, int fd) {
  Conn& conn = conns_[fd];
  WireRequest w;
  const ssize_t n = recv(fd, &w, sizeof w, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (conn.requested || n <= 0) {
    // Anything after the request is a protocol breach; n == 0 a hangup.
    if (conn.active) c.abandon("its requester (cr_checkpoint) went away before the commit");
    return end(fd);
  }
  conn.requested = true;
  if (!conn.refused.empty()) {  // never acted on: only told why
    send_reply(fd, final_reply(EPERM, conn.refused));
    return end(fd);
  }
  const bool ok = n == static_cast<ssize_t>(sizeof w) && w.magic == kRequestMagic &&
                  w.version == kVersion && w.after <= coord::kAfterKill &&
                  memchr(w.dir, '\0', sizeof w.dir) && (!w.dir[0] || w.dir[0] == '/');
  if (!ok) {
    send_reply(fd, final_reply(EINVAL, "malformed request (another version of cr_checkpoint?)"));
    return end(fd);
  }
  coord::CheckpointRequest req;
  req.dir = w.dir;
  req.after = w.after;
  req.timeout_s = w.timeout_s;
  req.on_progress = [fd](const coord::Progress& p) {
    WireReply r = {};
    r.magic = kReplyMagic;
    r.kind = kProgress;
    r.stage = static_cast<uint32_t>(p.stage);
    r.epoch = p.epoch;
    r.nranks = static_cast<uint32_t>(p.nranks);
    r.paused = static_cast<uint32_t>(p.paused);
    r.written = static_cast<uint32_t>(p.written);
    r.bytes = p.bytes;
    send_reply(fd, r);
  };
  req.on_done = [this, fd](const coord::Outcome& o) {
    WireReply r = final_reply(o.committed ? 0 : (o.error ? o.error : EIO), o.text);
    r.stage = static_cast<uint32_t>(o.committed ? coord::Stage::kCommit : coord::Stage::kIdle);
    r.epoch = o.epoch;
    r.bytes = o.bytes;
    copy_text(r.manifest, sizeof r.manifest, o.manifest_path);
    if (conns_.count(fd)) {
      send_reply(fd, r);
      conns_[fd].active = false;
    }
  };
  std::string err;
  if (!c.request_checkpoint(req, &err)) {
    send_reply(fd, final_reply(err.find("already in progress") != std::string::npos ? EBUSY : EINVAL, err));
    return end(fd);
  }
  conn.active = c.busy();  // a checkpoint that ended at once has replied
  if (conn.active) active_fd_ = fd;
}

void JobControlServer::step(coord::Coordinator& c) {
  if (ep_ < 0) return;
  struct epoll_event evs[16];
  const int n = epoll_wait(ep_, evs, 16, 0);
  for (int i = 0; i < n; ++i) {
    if (evs[i].data.fd == lfd_)
      accept_all();
    else if (conns_.count(evs[i].data.fd))
      serve(c, evs[i].data.fd);
  }
  // Requesters that said nothing in time, or whose checkpoint is over.
  const long now = coord::now_ms();
  for (auto it = conns_.begin(); it != conns_.end();) {
    const int fd = it->first;
    const Conn& k = it->second;
    ++it;
    if ((!k.requested && k.deadline <= now) || (k.requested && !k.active)) end(fd);
  }
}

}  // namespace crmpi::jobctl
