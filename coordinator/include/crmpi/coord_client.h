// crmpi/coord_client.h -- the agent's side of the job checkpoint protocol
// (crmpi/coord_protocol.h): cr_agent's link to the coordinator in crmpirun.
//
// Usage: parse $CRMPI_JOB_SECRET with parse_secret, fill a Hello (version,
// rank, nranks, pids, restored, host; nonce and mac are made here), then
// connect($CRMPI_COORD, ...).  After that the socket is non-blocking: add
// fd() to the agent's poll set and call recv() when it is readable, until it
// returns 0.  Every message body is the struct coord_protocol.h names after
// its type (Seqs: Seqs then `count` CommSeq).
//
// Thread safety: one AgentLink is used by one thread at a time.  Signal
// safety: none.  The fd is close-on-exec: the application never inherits it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <vector>

#include "crmpi/coord_protocol.h"
#include "crmpi/coord_wire.h"

namespace crmpi::coord {

// Parses 64 hex digits into @out.  Returns false (out unchanged) for
// anything else (NULL, wrong length, a non-hex digit).
bool parse_secret(const char* hex, uint8_t out[kSecretBytes]);

class AgentLink {
 public:
  AgentLink() = default;
  AgentLink(const AgentLink&) = delete;
  AgentLink& operator=(const AgentLink&) = delete;
  ~AgentLink();

  // Connects to @coord_addr ("host:port", host a name or an IPv4/IPv6
  // address, IPv6 in brackets) and runs the handshake: reads the Challenge,
  // sends @hello_without_mac with a fresh nonce and its MAC, checks the
  // Welcome's MAC.  Blocks at most 10 s in all.  Returns true when
  // authenticated; false with *@err saying why (unreachable, refused,
  // version mismatch, the coordinator does not know the secret, ...).
  // Messages that followed the Welcome may already be read: call recv()
  // before waiting for fd() to become readable.
  bool connect(const char* coord_addr, const uint8_t secret[kSecretBytes],
               const Hello& hello_without_mac, std::string* err);

  // The connected socket (non-blocking, TCP_NODELAY), or -1.
  int fd() const { return fd_; }

  // The epoch the coordinator announced in its Welcome.
  uint32_t next_epoch() const { return next_epoch_; }

  // Sends one message (frame + @len bytes of @body).  Waits (at most 10 s)
  // if the socket buffer is full.  False if the connection is gone or the
  // peer does not read (error() says why).
  bool send(Type t, uint32_t epoch, const void* body, size_t len);

  // Non-blocking: 1 = one whole message in *@f and *@body, 0 = none yet,
  // -1 = the connection closed or the coordinator sent something malformed
  // (error() says which; close the link).
  int recv(Frame* f, std::vector<char>* body);

  // What went wrong last.  Never NULL.
  const char* error() const { return error_.c_str(); }

  void close();

 private:
  bool fail(std::string* err, const std::string& what);
  int fd_ = -1;
  uint32_t next_epoch_ = 0;
  FrameReader reader_;
  std::string error_;
};

}  // namespace crmpi::coord
