// crmpi/procstat.h -- one parser for /proc/PID/stat lines, shared by libcr's
// runtime and restorer and by the tools.
//
// The second field (comm) may itself hold spaces and ')', so fields are
// counted from the LAST ')' of the line, numbered as in proc(5): 3 is the
// state, 4 the ppid, 47 start_brk, and so on.
//
// Pure string work: no allocation, no stdio, async-signal-safe (libcr's
// runtime reads these while every other thread is stopped).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

namespace crmpi::procstat {

// Read /proc/@pid/stat into @buf (@cap bytes, NUL-terminated).  Returns
// false if the process does not exist (or cannot be read).
// Async-signal-safe (open/read/close, no formatting library).
inline bool read(int pid, char* buf, size_t cap) {
  char path[32] = "/proc/", digits[12];
  int nd = 0;
  for (unsigned v = static_cast<unsigned>(pid); nd == 0 || v; v /= 10) digits[nd++] = '0' + v % 10;
  size_t at = 6;
  while (nd) path[at++] = digits[--nd];
  memcpy(path + at, "/stat", 6);
  if (cap == 0) return false;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = ::read(fd, buf, cap - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  return true;
}

// Where field 3 (the state) starts in the NUL-terminated @line, or nullptr
// for a line that is not a stat line.
inline const char* after_comm(const char* line) {
  const char* rp = strrchr(line, ')');
  return rp && rp[1] == ' ' && rp[2] ? rp + 2 : nullptr;
}

// The state letter (R, S, D, T, t, Z, X ...), or '?'.
inline char state(const char* line) {
  const char* s = after_comm(line);
  return s ? *s : '?';
}

// Field @n (>= 3) as an unsigned number.  False if the line is shorter.
inline bool field(const char* line, int n, uint64_t* out) {
  const char* s = after_comm(line);
  if (!s || n < 3) return false;
  for (int f = 3; f < n; ++f) {
    s = strchr(s, ' ');
    if (!s) return false;
    ++s;
  }
  if (*s < '0' || *s > '9') {
    if (*s != '-') return false;
    *out = 0;  // negative values (e.g. a priority) read as 0
    return true;
  }
  uint64_t v = 0;
  for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + static_cast<uint64_t>(*s - '0');
  *out = v;
  return true;
}

}  // namespace crmpi::procstat
