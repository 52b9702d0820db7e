// paths.h -- finding programs and the tools' own files, shared by the
// launchers (cr_run, crmpirun).
#pragma once

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace crtools {

// The folder this executable lives in ("." if unknown).  The tools find
// their libraries in ../lib from there, in the build tree and installed.
inline std::string self_dir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  buf[n] = 0;
  std::string s = buf;
  return s.substr(0, s.rfind('/'));
}

// A regular file we may execute.
inline bool executable(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}

// The path execvp would run for @prog ("" if none): @prog itself when it
// holds a '/', else the first executable match in $PATH (an empty entry is
// the current folder).
inline std::string which(const std::string& prog) {
  if (prog.find('/') != std::string::npos) return executable(prog) ? prog : "";
  const char* path = getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string dir = p.substr(start, end - start);
    std::string cand = (dir.empty() ? "." : dir) + "/" + prog;
    if (executable(cand)) return cand;
    start = end + 1;
  }
  return "";
}

}  // namespace crtools
