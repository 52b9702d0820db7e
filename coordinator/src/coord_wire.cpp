// coord_wire.cpp -- framing and MACs of the job checkpoint protocol.  See
// crmpi/coord_wire.h.
#include "crmpi/coord_wire.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

namespace crmpi::coord {
namespace {

// The fixed part of each type's body; -1 for an unknown type.
long fixed_size(uint16_t type) {
  switch (type) {
    case kChallenge: return sizeof(Challenge);
    case kHello: return sizeof(Hello);
    case kWelcome: return sizeof(Welcome);
    case kIntent: return sizeof(Intent);
    case kTargets: return sizeof(Targets);
    case kQuiesce: case kDrainStep: case kDrainDone: return 0;
    case kLink: return sizeof(Link);
    case kCommit: return sizeof(Commit);
    case kAbort: return sizeof(Abort);
    case kRequestDone: return sizeof(RequestDone);
    case kSeqs: return sizeof(Seqs);
    case kQuiesced: return sizeof(Quiesced);
    case kCounts: return sizeof(Counts);
    case kWritten: return sizeof(Written);
    case kLinked: return sizeof(Linked);
    case kFailed: return sizeof(Failed);
    case kRequest: return sizeof(Request);
    default: return -1;
  }
}

bool has_array(uint16_t type) { return type == kSeqs || type == kTargets; }

}  // namespace

const char* type_name(uint16_t type) {
  switch (type) {
    case kChallenge: return "Challenge";
    case kHello: return "Hello";
    case kWelcome: return "Welcome";
    case kIntent: return "Intent";
    case kTargets: return "Targets";
    case kQuiesce: return "Quiesce";
    case kDrainStep: return "DrainStep";
    case kDrainDone: return "DrainDone";
    case kLink: return "Link";
    case kCommit: return "Commit";
    case kAbort: return "Abort";
    case kRequestDone: return "RequestDone";
    case kSeqs: return "Seqs";
    case kQuiesced: return "Quiesced";
    case kCounts: return "Counts";
    case kWritten: return "Written";
    case kLinked: return "Linked";
    case kFailed: return "Failed";
    case kRequest: return "Request";
    default: return "unknown";
  }
}

const char* check_header(const Frame& f) {
  if (f.magic != kFrameMagic) return "bad frame magic (not a crmpi coordinator peer)";
  if (f.flags != 0) return "bad frame flags";
  const long fixed = fixed_size(f.type);
  if (fixed < 0) return "unknown message type";
  if (f.length > kMaxBody) return "message body too large";
  if (has_array(f.type)) {
    if (f.length < fixed || (f.length - fixed) % sizeof(CommSeq) != 0)
      return "message length does not fit its type";
  } else if (f.length != static_cast<uint32_t>(fixed)) {
    return "message length does not fit its type";
  }
  return nullptr;
}

const char* check_body(const Frame& f, const char* body) {
  if (!has_array(f.type)) return nullptr;
  uint32_t count;
  memcpy(&count, body, sizeof count);  // count is the first field of both
  const uint64_t want = static_cast<uint64_t>(fixed_size(f.type)) + uint64_t{count} * sizeof(CommSeq);
  return want == f.length ? nullptr : "array count does not match the message length";
}

int FrameReader::fill(int fd) {
  for (;;) {
    // Level-triggered callers come back for the rest once this is parsed.
    if (buf_.size() - off_ > kMaxBody + sizeof(Frame)) return 1;
    if (off_ > 0 && off_ == buf_.size()) buf_.clear(), off_ = 0;
    if (off_ > (1u << 20) && off_ * 2 > buf_.size()) {
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<long>(off_));
      off_ = 0;
    }
    const size_t old = buf_.size();
    buf_.resize(old + 65536);
    const ssize_t n = recv(fd, buf_.data() + old, 65536, 0);
    buf_.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
    if (n > 0) continue;
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 1;
    return -errno;
  }
}

void FrameReader::feed(const void* p, size_t n) {
  buf_.insert(buf_.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n);
}

int FrameReader::next(Frame* f, std::vector<char>* body, std::string* err) {
  const size_t have = buf_.size() - off_;
  if (have < sizeof(Frame)) return 0;
  memcpy(f, buf_.data() + off_, sizeof *f);
  if (const char* why = check_header(*f)) {
    *err = std::string(why) + " (type " + std::to_string(f->type) + " " + type_name(f->type) +
           ", length " + std::to_string(f->length) + ")";
    return -1;
  }
  if (have < sizeof(Frame) + f->length) return 0;
  const char* b = buf_.data() + off_ + sizeof(Frame);
  if (const char* why = check_body(*f, b)) {
    *err = std::string(type_name(f->type)) + ": " + why;
    return -1;
  }
  body->assign(b, b + f->length);
  off_ += sizeof(Frame) + f->length;
  return 1;
}

std::string encode(Type t, uint32_t epoch, const void* body, size_t len) {
  Frame f = {kFrameMagic, static_cast<uint16_t>(t), 0, static_cast<uint32_t>(len), epoch};
  std::string s(sizeof f + len, '\0');
  memcpy(s.data(), &f, sizeof f);
  if (len) memcpy(s.data() + sizeof f, body, len);
  return s;
}

void hmac(const uint8_t secret[kSecretBytes], const Part* parts, size_t nparts,
          uint8_t out[kMacBytes]) {
  std::string data;
  for (size_t i = 0; i < nparts; ++i) data.append(static_cast<const char*>(parts[i].p), parts[i].n);
  unsigned int len = kMacBytes;
  HMAC(EVP_sha256(), secret, kSecretBytes, reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
}

void hello_mac(const uint8_t secret[kSecretBytes], const uint8_t challenge_nonce[kNonceBytes],
               uint32_t rank, const uint8_t hello_nonce[kNonceBytes], uint8_t out[kMacBytes]) {
  const uint32_t r = rank;  // little-endian host (x86-64)
  const Part parts[] = {{"crmpi-agent", 11}, {challenge_nonce, kNonceBytes}, {&r, 4},
                        {hello_nonce, kNonceBytes}};
  hmac(secret, parts, 4, out);
}

void welcome_mac(const uint8_t secret[kSecretBytes], const uint8_t hello_nonce[kNonceBytes],
                 uint32_t rank, uint8_t out[kMacBytes]) {
  const uint32_t r = rank;
  const Part parts[] = {{"crmpi-coord", 11}, {hello_nonce, kNonceBytes}, {&r, 4}};
  hmac(secret, parts, 3, out);
}

bool mac_equal(const uint8_t a[kMacBytes], const uint8_t b[kMacBytes]) {
  return CRYPTO_memcmp(a, b, kMacBytes) == 0;
}

bool random_bytes(void* out, size_t n) {
  char* p = static_cast<char*>(out);
  while (n) {
    const ssize_t got = getrandom(p, n, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

std::string secret_hex(const uint8_t secret[kSecretBytes]) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < kSecretBytes; ++i) s += kHex[secret[i] >> 4], s += kHex[secret[i] & 15];
  return s;
}

}  // namespace crmpi::coord
