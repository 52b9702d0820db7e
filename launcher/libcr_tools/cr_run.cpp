// cr_run PROG ARGS... -- run a program with libcr preloaded, so that it can
// be checkpointed with cr_checkpoint (BLCR's cr_run).
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

static void usage(FILE* f) {
  fprintf(f,
          "usage: cr_run PROGRAM [ARGS...]\n"
          "Run PROGRAM with libcr preloaded, so that `cr_checkpoint PID` can checkpoint it.\n");
}

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    usage(stdout);
    return 0;
  }
  // libcr.so lives in ../lib relative to this binary (build tree and install).
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    perror("cr_run: /proc/self/exe");
    return 1;
  }
  self[n] = '\0';
  std::string dir(self);
  dir = dir.substr(0, dir.rfind('/'));
  std::string lib = dir + "/../lib/libcr.so";
  if (access(lib.c_str(), R_OK) != 0) {
    fprintf(stderr, "cr_run: cannot find %s: %s\n", lib.c_str(), strerror(errno));
    return 1;
  }
  const char* old = getenv("LD_PRELOAD");
  std::string pre = lib + (old && *old ? std::string(":") + old : "");
  setenv("LD_PRELOAD", pre.c_str(), 1);
  execvp(argv[1], argv + 1);
  fprintf(stderr, "cr_run: cannot run %s: %s\n", argv[1], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
