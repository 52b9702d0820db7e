// cr_run PROG ARGS... -- run a program with libcr preloaded, so that it can
// be checkpointed with cr_checkpoint (BLCR's cr_run).
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include "paths.h"

// Finds PROG as execvp would; true when it is an ELF file without an
// interpreter (statically linked): LD_PRELOAD cannot reach it.
static bool is_static_elf(const char* prog) {
  const std::string path = crtools::which(prog);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Elf64_Ehdr eh;
  bool is_static = false;
  if (pread(fd, &eh, sizeof eh, 0) == static_cast<ssize_t>(sizeof eh) &&
      !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
      eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 256) {
    is_static = true;
    for (int i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph;
      if (pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * sizeof ph)) !=
              static_cast<ssize_t>(sizeof ph) ||
          ph.p_type == PT_INTERP) {
        is_static = false;
        break;
      }
    }
  }
  close(fd);
  return is_static;
}

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
  const std::string dir = crtools::self_dir();
  std::string lib = dir + "/../lib/libcr.so";
  if (access(lib.c_str(), R_OK) != 0) {
    fprintf(stderr, "cr_run: cannot find %s: %s\n", lib.c_str(), strerror(errno));
    return 1;
  }
  if (is_static_elf(argv[1])) {
    fprintf(stderr,
            "cr_run: warning: %s is statically linked, so libcr cannot be preloaded into it and it "
            "will not be checkpointable; build it dynamically linked\n",
            argv[1]);
  }
  const char* old = getenv("LD_PRELOAD");
  std::string pre = lib + (old && *old ? std::string(":") + old : "");
  setenv("LD_PRELOAD", pre.c_str(), 1);
  execvp(argv[1], argv + 1);
  fprintf(stderr, "cr_run: cannot run %s: %s\n", argv[1], strerror(errno));
  return errno == ENOENT ? 127 : 126;
}
