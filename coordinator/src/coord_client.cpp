// coord_client.cpp -- the agent's link to the coordinator.  See
// crmpi/coord_client.h.
#include "crmpi/coord_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

namespace crmpi::coord {
namespace {

constexpr int kTimeoutMs = 10000;

long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Waits for @events on @fd until @deadline.  True if ready.
bool wait_fd(int fd, short events, long deadline) {
  for (;;) {
    const long left = deadline - now_ms();
    if (left <= 0) return false;
    struct pollfd p = {fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

// Splits "host:port" / "[v6]:port".
bool split_addr(const std::string& a, std::string* host, std::string* port) {
  size_t colon = a.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == a.size()) return false;
  *host = a.substr(0, colon);
  *port = a.substr(colon + 1);
  if (host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return !host->empty();
}

// A non-blocking TCP connection to @addr, established by @deadline.
int dial(const std::string& addr, long deadline, std::string* why) {
  std::string host, port;
  if (!split_addr(addr, &host, &port)) {
    *why = "bad coordinator address '" + addr + "' (want host:port)";
    return -1;
  }
  struct addrinfo hints = {}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res)) {
    *why = "cannot resolve coordinator address '" + addr + "': " + gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  *why = "cannot connect to the coordinator at " + addr;
  for (struct addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline)) {
      int e = 0;
      socklen_t el = sizeof e;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
      rc = e ? -1 : 0;
      errno = e ? e : ETIMEDOUT;
    } else if (rc != 0 && errno == EINPROGRESS) {
      errno = ETIMEDOUT;
    }
    if (rc != 0) {
      *why = "cannot connect to the coordinator at " + addr + ": " + strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

}  // namespace

bool parse_secret(const char* hex, uint8_t out[kSecretBytes]) {
  if (!hex || strlen(hex) != 2 * kSecretBytes) return false;
  uint8_t tmp[kSecretBytes];
  for (size_t i = 0; i < kSecretBytes; ++i) {
    const int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    tmp[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  memcpy(out, tmp, sizeof tmp);
  return true;
}

AgentLink::~AgentLink() { close(); }

void AgentLink::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool AgentLink::fail(std::string* err, const std::string& what) {
  error_ = what;
  if (err) *err = what;
  close();
  return false;
}

bool AgentLink::connect(const char* coord_addr, const uint8_t secret[kSecretBytes],
                        const Hello& hello_without_mac, std::string* err) {
  close();
  reader_ = FrameReader();
  const long deadline = now_ms() + kTimeoutMs;
  std::string why;
  fd_ = dial(coord_addr ? coord_addr : "", deadline, &why);
  if (fd_ < 0) return fail(err, why);
  // The handshake, message by message, each within the deadline.
  auto read_one = [&](Type want, std::vector<char>* body, Frame* f) {
    for (;;) {
      const int got = recv(f, body);
      if (got < 0) return false;
      if (got == 1) {
        if (f->type == want) return true;
        error_ = std::string("the coordinator sent ") + type_name(f->type) + " instead of " +
                 type_name(want);
        return false;
      }
      if (!wait_fd(fd_, POLLIN, deadline)) {
        error_ = std::string("no ") + type_name(want) + " from the coordinator within 10 s";
        return false;
      }
    }
  };
  Frame f;
  std::vector<char> body;
  if (!read_one(kChallenge, &body, &f)) return fail(err, error_);
  Challenge ch;
  memcpy(&ch, body.data(), sizeof ch);
  if (ch.version != kVersion)
    return fail(err, "coordinator speaks protocol version " + std::to_string(ch.version) +
                         ", this agent " + std::to_string(kVersion));
  Hello h = hello_without_mac;
  if (!random_bytes(h.nonce, sizeof h.nonce)) return fail(err, "getrandom failed");
  hello_mac(secret, ch.nonce, h.rank, h.nonce, h.mac);
  if (!send(kHello, 0, &h, sizeof h)) return fail(err, error_);
  if (!read_one(kWelcome, &body, &f)) {
    // A coordinator that rejects the Hello closes the connection.
    return fail(err, error_ == "the coordinator closed the connection"
                         ? "the coordinator refused this agent (wrong job secret, rank or version)"
                         : error_);
  }
  Welcome w;
  memcpy(&w, body.data(), sizeof w);
  uint8_t mac[kMacBytes];
  welcome_mac(secret, h.nonce, h.rank, mac);
  if (!mac_equal(mac, w.mac))
    return fail(err, "the coordinator does not know the job secret (bad Welcome MAC)");
  next_epoch_ = w.next_epoch;
  return true;
}

bool AgentLink::send(Type t, uint32_t epoch, const void* body, size_t len) {
  if (fd_ < 0) {
    error_ = "not connected";
    return false;
  }
  const std::string msg = encode(t, epoch, body, len);
  size_t done = 0;
  const long deadline = now_ms() + kTimeoutMs;
  while (done < msg.size()) {
    const ssize_t n = ::send(fd_, msg.data() + done, msg.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd_, POLLOUT, deadline))
      continue;
    error_ = n < 0 && errno != EAGAIN ? std::string("send to the coordinator: ") + strerror(errno)
                                      : "the coordinator does not read (10 s)";
    return false;
  }
  return true;
}

int AgentLink::recv(Frame* f, std::vector<char>* body) {
  if (fd_ < 0) {
    error_ = "not connected";
    return -1;
  }
  std::string why;
  int got = reader_.next(f, body, &why);
  if (got == 0) {
    const int rc = reader_.fill(fd_);
    got = reader_.next(f, body, &why);
    if (got == 0 && rc == 0) why = "the coordinator closed the connection";
    if (got == 0 && rc < 0) why = std::string("receive from the coordinator: ") + strerror(-rc);
    if (got == 0 && rc <= 0) got = -1;
  }
  if (got < 0) error_ = why.empty() ? "malformed message from the coordinator" : why;
  return got;
}

}  // namespace crmpi::coord
