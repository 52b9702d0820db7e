// coordinator.cpp -- the coordinator's connections: listen, accept, the
// handshake of crmpi/coord_protocol.h, buffered non-blocking I/O and the
// event loop.  The checkpoint's stages are in checkpoint.cpp.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coord_impl.h"

namespace crmpi::coord {

constexpr long kHandshakeMs = 10000;

long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

namespace {

uint64_t key_of(const Peer& p) { return uint64_t{p.gen} << 32 | static_cast<uint32_t>(p.fd); }

// A listening TCP socket on every interface (or @host), ephemeral port.
int listen_tcp(const std::string& host, int* port, std::string* err) {
  int fd = -1;
  if (host.empty()) {
    fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
      int zero = 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      struct sockaddr_in6 a = {};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_any;
      if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close(fd), fd = -1;
    }
  }
  if (fd < 0) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (!host.empty() && inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
      *err = "bad bind address " + host;
      if (fd >= 0) close(fd);
      return -1;
    }
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      *err = std::string("cannot bind the coordinator's socket: ") + strerror(errno);
      if (fd >= 0) close(fd);
      return -1;
    }
  }
  if (listen(fd, SOMAXCONN) != 0) {
    *err = std::string("cannot listen: ") + strerror(errno);
    close(fd);
    return -1;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl);
  *port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                         : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

// This host's name if it resolves, else the loopback address.
std::string advertised_host(const std::string& bind_host) {
  if (!bind_host.empty()) return bind_host;
  char name[256] = {0};
  if (gethostname(name, sizeof name - 1) != 0 || !name[0]) return "127.0.0.1";
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(name, nullptr, &hints, &res) != 0) return "127.0.0.1";
  freeaddrinfo(res);
  return name;
}

}  // namespace

Coordinator::Coordinator() : impl_(std::make_unique<Impl>()) {}

Coordinator::~Coordinator() {
  if (impl_->cur) impl_->fail(ECANCELED, "the coordinator is shutting down");
  for (auto& [fd, p] : impl_->peers) close(fd);
  if (impl_->lfd >= 0) close(impl_->lfd);
  if (impl_->ep >= 0) close(impl_->ep);
}

bool Coordinator::start(const CoordinatorConfig& cfg, std::string* err) {
  Impl& m = *impl_;
  if (cfg.nranks < 0) {
    *err = "bad number of ranks";
    return false;
  }
  m.cfg = cfg;
  m.next_epoch = cfg.first_epoch ? cfg.first_epoch : 1;
  m.rank_fd.assign(static_cast<size_t>(cfg.nranks), -1);
  m.lfd = listen_tcp(cfg.bind_host, &m.port, err);
  if (m.lfd < 0) return false;
  m.ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = ~uint64_t{0};
  if (m.ep < 0 || epoll_ctl(m.ep, EPOLL_CTL_ADD, m.lfd, &ev) != 0) {
    *err = std::string("epoll: ") + strerror(errno);
    return false;
  }
  m.addr = advertised_host(cfg.bind_host) + ":" + std::to_string(m.port);
  return true;
}

const std::string& Coordinator::address() const { return impl_->addr; }
int Coordinator::port() const { return impl_->port; }
int Coordinator::fd() const { return impl_->ep; }
bool Coordinator::busy() const { return impl_->cur.has_value(); }
uint32_t Coordinator::current_epoch() const { return impl_->cur ? impl_->cur->epoch : 0; }
uint32_t Coordinator::next_epoch() const { return impl_->next_epoch; }
int Coordinator::connected_ranks() const { return impl_->nauthed; }
Progress Coordinator::progress() const { return impl_->progress(); }

bool Coordinator::request_checkpoint(const CheckpointRequest& req, std::string* err) {
  return impl_->begin(req, err);
}

void Coordinator::abandon(const std::string& why) {
  if (impl_->cur) impl_->fail(ECANCELED, why);
}

int Coordinator::next_timeout_ms() const {
  long next = -1;
  for (const auto& [fd, p] : impl_->peers)
    if (!p.authed && (next < 0 || p.deadline < next)) next = p.deadline;
  if (impl_->cur && (next < 0 || impl_->cur->deadline < next)) next = impl_->cur->deadline;
  if (impl_->deferred && (next < 0 || impl_->deferred_deadline < next)) next = impl_->deferred_deadline;
  if (next < 0) return -1;
  const long left = next - now_ms();
  return left < 0 ? 0 : static_cast<int>(left > 1000000 ? 1000000 : left);
}

void Coordinator::step(int timeout_ms) {
  Impl& m = *impl_;
  struct epoll_event evs[256];
  const int n = epoll_wait(m.ep, evs, 256, timeout_ms);
  for (int i = 0; i < n; ++i) {
    if (evs[i].data.u64 == ~uint64_t{0})
      m.accept_all();
    else
      m.on_event(evs[i].data.u64, evs[i].events);
  }
  m.expire();
  if (m.cur) m.advance();
  if (m.cur) m.report_progress();
}

// $CRMPI_COORD_TRACE: every rank message and broadcast, on the log (debugging).
bool Coordinator::Impl::trace() {
  static const bool on = getenv("CRMPI_COORD_TRACE") != nullptr;
  return on;
}

// " ready R round N: id=seq ..." of a Seqs body (the trace).
std::string Coordinator::Impl::seqs_text(const std::vector<char>& body) {
  Seqs s;
  memcpy(&s, body.data(), sizeof s);
  std::string t = " ready " + std::to_string(s.ready) + " round " + std::to_string(s.round) +
                  (s.in_group_collective ? " inside a group collective" : "") + ":";
  for (uint32_t i = 0; i < s.count && sizeof s + (i + 1) * sizeof(CommSeq) <= body.size(); ++i) {
    CommSeq c;
    memcpy(&c, body.data() + sizeof s + i * sizeof c, sizeof c);
    char buf[48];
    snprintf(buf, sizeof buf, " %llx=%llu", static_cast<unsigned long long>(c.comm_id),
             static_cast<unsigned long long>(c.seq));
    t += buf;
  }
  return t;
}

void Coordinator::Impl::log(const std::string& s) const {
  if (cfg.log)
    cfg.log(s);
  else
    fprintf(stderr, "crmpirun: %s\n", s.c_str());
}

void Coordinator::Impl::accept_all() {
  for (;;) {
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) log(std::string("accept: ") + strerror(errno));
      return;
    }
    // Bound the connections still in their handshake (a flood of strangers).
    if (peers.size() - static_cast<size_t>(nauthed) > static_cast<size_t>(2 * cfg.nranks + 256)) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Peer& p = peers[fd];
    p = Peer();
    p.fd = fd;
    p.gen = ++gen;
    p.deadline = now_ms() + kHandshakeMs;
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = key_of(p);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    Challenge c = {};
    c.version = kVersion;
    c.nranks = static_cast<uint32_t>(cfg.nranks);
    if (!random_bytes(c.nonce, sizeof c.nonce)) {
      drop(fd, "getrandom failed", false);
      continue;
    }
    memcpy(p.nonce, c.nonce, sizeof p.nonce);
    send_to(fd, kChallenge, 0, &c, sizeof c);
  }
}

void Coordinator::Impl::on_event(uint64_t key, uint32_t events) {
  const int fd = static_cast<int>(key & 0xffffffffu);
  auto it = peers.find(fd);
  if (it == peers.end() || it->second.gen != key >> 32) return;  // dropped earlier
  Peer& p = it->second;
  if (events & EPOLLOUT) flush(p);
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) return;
  const int rc = p.in.fill(fd);
  Frame f;
  std::vector<char> body;
  std::string why;
  const uint32_t g = p.gen;
  for (;;) {
    auto again = peers.find(fd);  // a handler may have dropped it
    if (again == peers.end() || again->second.gen != g) return;
    const int got = again->second.in.next(&f, &body, &why);
    if (got < 0) return drop(fd, "malformed message: " + why, false);
    if (got == 0) break;
    handle(again->second, f, body);
  }
  auto again = peers.find(fd);
  if (again == peers.end() || again->second.gen != g) return;
  if (rc <= 0)
    drop(fd, rc == 0 ? "connection closed" : std::string("connection broken: ") + strerror(-rc),
         again->second.authed && !cur);
}

void Coordinator::Impl::handle(Peer& p, const Frame& f, const std::vector<char>& body) {
  if (!p.authed) return handshake(p, f, body);
  if (f.type == kHello || f.type < kSeqs) {
    return drop(p.fd, std::string("unexpected ") + type_name(f.type) + " from an agent", false);
  }
  on_rank_message(p.rank, f, body);
}

// Checks a Hello: version, rank, MAC; answers with a Welcome.
void Coordinator::Impl::handshake(Peer& p, const Frame& f, const std::vector<char>& body) {
  if (f.type != kHello)
    return drop(p.fd, std::string("expected Hello, got ") + type_name(f.type), false);
  Hello h;
  memcpy(&h, body.data(), sizeof h);
  h.host[sizeof h.host - 1] = '\0';
  const std::string who = "agent claiming rank " + std::to_string(h.rank) + " from " + h.host;
  if (h.version != kVersion)
    return drop(p.fd, who + " speaks protocol version " + std::to_string(h.version) +
                          ", the coordinator " + std::to_string(kVersion), false);
  uint8_t mac[kMacBytes];
  hello_mac(cfg.secret, p.nonce, h.rank, h.nonce, mac);
  if (!mac_equal(mac, h.mac)) return drop(p.fd, who + ": bad MAC (not this job's secret)", false);
  if (cfg.nranks == 0 && h.nranks > 0 && h.nranks <= (1u << 20)) {
    // The size was not known at launch (no -np): the first member says it.
    cfg.nranks = static_cast<int>(h.nranks);
    rank_fd.assign(h.nranks, -1);
  }
  if (h.nranks != static_cast<uint32_t>(cfg.nranks) || h.rank >= h.nranks)
    return drop(p.fd, who + ": rank/size " + std::to_string(h.rank) + "/" +
                          std::to_string(h.nranks) + " does not fit a job of " +
                          std::to_string(cfg.nranks) + " ranks", false);
  if (rank_fd[h.rank] >= 0) return drop(p.fd, who + ": that rank is already connected", false);
  p.authed = true;
  p.rank = static_cast<int>(h.rank);
  p.hello = h;
  rank_fd[h.rank] = p.fd;
  ++nauthed;
  Welcome w = {};
  w.next_epoch = next_epoch;
  welcome_mac(cfg.secret, h.nonce, h.rank, w.mac);
  send_to(p.fd, kWelcome, 0, &w, sizeof w);
  start_deferred();
}

void Coordinator::Impl::drop(int fd, const std::string& why, bool quiet) {
  auto it = peers.find(fd);
  if (it == peers.end()) return;
  const int rank = it->second.authed ? it->second.rank : -1;
  if (!quiet) {
    if (rank >= 0)
      log("rank " + std::to_string(rank) + ": " + why);
    else
      log("rejected a connection to the coordinator: " + why);
  }
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  peers.erase(it);
  if (rank >= 0) {
    rank_fd[static_cast<size_t>(rank)] = -1;
    --nauthed;
    if (cur) rank_gone(rank, why);
  }
}

void Coordinator::Impl::send_to(int fd, Type t, uint32_t epoch, const void* body, size_t len) {
  auto it = peers.find(fd);
  if (it == peers.end()) return;
  it->second.out += encode(t, epoch, body, len);
  flush(it->second);
}

void Coordinator::Impl::broadcast(Type t, const void* body, size_t len) {
  const uint32_t epoch = cur ? cur->epoch : 0;
  if (trace())
    log(std::string("trace: to every rank: ") + type_name(t) + " (epoch " + std::to_string(epoch) +
        ")");
  for (int fd : rank_fd)
    if (fd >= 0) send_to(fd, t, epoch, body, len);
}

// Writes what the socket takes; arms EPOLLOUT for the rest.
void Coordinator::Impl::flush(Peer& p) {
  size_t done = 0;
  while (done < p.out.size()) {
    const ssize_t n = send(p.fd, p.out.data() + done, p.out.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN, or a broken connection: its read side reports it
  }
  p.out.erase(0, done);
  const bool want = !p.out.empty();
  if (want != p.want_out) {
    struct epoll_event ev = {};
    ev.events = EPOLLIN | EPOLLRDHUP | (want ? static_cast<uint32_t>(EPOLLOUT) : 0u);
    ev.data.u64 = key_of(p);
    epoll_ctl(ep, EPOLL_CTL_MOD, p.fd, &ev);
    p.want_out = want;
  }
}

// Handshakes that took too long; the checkpoint's deadline.
void Coordinator::Impl::expire() {
  const long now = now_ms();
  std::vector<int> late;
  for (const auto& [fd, p] : peers)
    if (!p.authed && p.deadline <= now) late.push_back(fd);
  for (int fd : late) drop(fd, "no Hello within 10 s", false);
  if (cur && cur->deadline <= now) {
    // Name the ranks the stage still waits for.
    std::string slow;
    int nslow = 0;
    for (size_t r = 0; r < cur->ranks.size(); ++r) {
      const RankState& s = cur->ranks[r];
      bool waiting = cur->stage == Stage::kQuiesce ? !s.quiesced
                     : cur->stage == Stage::kDrain ? !s.counted
                     : cur->stage == Stage::kWrite ? !s.written
                     : cur->stage == Stage::kLink  ? !s.linked
                                                   : !s.have_seqs || !s.last.ready ||
                                                         s.last.round != cur->round;
      if (waiting && nslow++ < 8) slow += (slow.empty() ? "" : ", ") + std::to_string(r);
    }
    if (nslow > 8) slow += ", ...";
    fail(ETIMEDOUT, "timed out after " + std::to_string(cur->req.timeout_s) + " s in stage " +
                        stage_name(cur->stage) + (slow.empty() ? "" : ", waiting for rank(s) " + slow));
  }
  if (deferred && deferred_deadline <= now)
    drop_deferred(ETIMEDOUT, "only " + std::to_string(nauthed) + " of " + std::to_string(cfg.nranks) +
                                 " ranks connected to the coordinator within " +
                                 std::to_string(cfg.default_timeout_s) + " s");
}

}  // namespace crmpi::coord
