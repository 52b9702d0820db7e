// cr_restart FILE -- restart a process from its image (BLCR's cr_restart).
//
// This process becomes the restored one: it keeps cr_restart's stdin,
// stdout and stderr, and its exit status is the restored program's.
#include <stdio.h>
#include <string.h>

#include <string>

#include "reader.h"
#include "restore.h"

static void usage(FILE* f) {
  fprintf(f,
          "usage: cr_restart [-v] [-q] [--relocate OLD=NEW] FILE\n"
          "Restart the process checkpointed in FILE.  It continues with this command's\n"
          "stdin, stdout and stderr, and this command exits with its exit status.\n"
          "  -v                   print each restart stage\n"
          "  -q                   no warnings (e.g. about sockets restored as placeholders)\n"
          "  --foreign-image      restart an image recorded for another user, or in a file\n"
          "                       another user owns, as yourself (refused otherwise)\n"
          "  --relocate OLD=NEW   look for files under OLD in NEW (open files, mapped\n"
          "                       files, cwd); may be repeated\n");
}

int main(int argc, char** argv) {
  crrestore::Options opt;
  const char* file = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "-v")) {
      opt.verbose = true;
    } else if (!strcmp(argv[i], "-q")) {
      opt.quiet = true;
    } else if (!strcmp(argv[i], "--foreign-image")) {
      opt.foreign = true;
    } else if (!strcmp(argv[i], "--relocate") || !strncmp(argv[i], "--relocate=", 11)) {
      const char* v = argv[i][10] == '=' ? argv[i] + 11 : (i + 1 < argc ? argv[++i] : "");
      const char* eq = strchr(v, '=');
      if (!eq || eq == v || !eq[1]) {
        fprintf(stderr, "cr_restart: --relocate needs OLD=NEW, got '%s'\n", v);
        return 2;
      }
      std::string from(v, eq), to(eq + 1);
      while (from.size() > 1 && from.back() == '/') from.pop_back();
      while (to.size() > 1 && to.back() == '/') to.pop_back();
      opt.relocate.emplace_back(from, to);
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "cr_restart: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    } else if (file) {
      fprintf(stderr, "cr_restart: more than one FILE given\n");
      return 2;
    } else {
      file = argv[i];
    }
  }
  if (!file) {
    usage(stderr);
    return 2;
  }
  try {
    crrestore::restart_from(file, opt);
  } catch (const std::exception& e) {
    fprintf(stderr, "cr_restart: %s\n", e.what());
    return 1;
  }
}
