// crmpi/coord_wire.h -- framing and authentication of crmpi/coord_protocol.h,
// shared by the coordinator and the agents' link (coord_client.h).
//
// Body sizes: every Type has a fixed body (the struct coord_protocol.h names
// after it), except Seqs and Targets (their struct, then `count` CommSeq).
// Quiesce, DrainStep and DrainDone have no struct: their body is empty.
//
// Thread safety: FrameReader is not shared between threads; the functions
// share no state.  Signal safety: none.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "crmpi/coord_protocol.h"

namespace crmpi::coord {

// The type's name for messages ("Seqs"), or "unknown".  Never NULL.
const char* type_name(uint16_t type);

// Checks a frame header: magic, flags, known type, and a length that fits
// the type (for Seqs/Targets, the count is checked against the body with
// array_body_ok once the body is there).  Returns nullptr if good, else a
// static text naming the problem.
const char* check_header(const Frame& f);

// For Seqs and Targets: the body's count matches its length.  Returns
// nullptr if good (or the type has no array), else the problem.
const char* check_body(const Frame& f, const char* body);

// Accumulates bytes from a stream socket and cuts them into messages.
class FrameReader {
 public:
  // Reads what @fd has (non-blocking fd).  Returns 1 if bytes came (or
  // EAGAIN), 0 on end of stream, -errno on an error.
  int fill(int fd);
  // The next whole message: 1 with *@f and *@body, 0 if none is complete
  // yet, -1 if the stream is bad (*@err names the problem; the connection
  // must be dropped).
  int next(Frame* f, std::vector<char>* body, std::string* err);
  // Appends bytes (tests and fuzzing).
  void feed(const void* p, size_t n);

 private:
  std::vector<char> buf_;
  size_t off_ = 0;
};

// Header + body, ready to send.
std::string encode(Type t, uint32_t epoch, const void* body, size_t len);

// HMAC-SHA256 of the concatenation of @parts with @secret into @out.
struct Part {
  const void* p;
  size_t n;
};
void hmac(const uint8_t secret[kSecretBytes], const Part* parts, size_t nparts,
          uint8_t out[kMacBytes]);
// The Hello and Welcome MACs of coord_protocol.h.
void hello_mac(const uint8_t secret[kSecretBytes], const uint8_t challenge_nonce[kNonceBytes],
               uint32_t rank, const uint8_t hello_nonce[kNonceBytes], uint8_t out[kMacBytes]);
void welcome_mac(const uint8_t secret[kSecretBytes], const uint8_t hello_nonce[kNonceBytes],
                 uint32_t rank, uint8_t out[kMacBytes]);
// Constant-time comparison of two MACs.
bool mac_equal(const uint8_t a[kMacBytes], const uint8_t b[kMacBytes]);

// Fills @out with @n random bytes (getrandom).  False on failure.
bool random_bytes(void* out, size_t n);

// 64 lowercase hex digits of a secret.
std::string secret_hex(const uint8_t secret[kSecretBytes]);

}  // namespace crmpi::coord
