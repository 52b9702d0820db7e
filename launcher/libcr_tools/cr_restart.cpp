// cr_restart FILE -- restart a process from its image (BLCR's cr_restart);
// cr_restart [mpirun options...] MANIFEST|DIR -- restart a whole MPI job.
//
// This process becomes the restored one: it keeps cr_restart's stdin,
// stdout and stderr, and its exit status is the restored program's.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

#include <string>
#include <vector>

#include "cli.h"
#include "paths.h"
#include "reader.h"
#include "restore.h"

// A job checkpoint (a folder, or a manifest: JSON) as the last argument:
// `cr_restart [mpirun options...] MANIFEST|DIR` is `crmpirun --restart
// MANIFEST|DIR [mpirun options...]`, run from next to this program.
static void restart_job_if_asked(int argc, char** argv) {
  if (argc < 2) return;
  const char* last = argv[argc - 1];
  struct stat st;
  bool job = false;
  if (stat(last, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    job = true;
  } else if (!S_ISREG(st.st_mode)) {
    return;  // a FIFO or a device is never opened here (it could block)
  } else if (FILE* f = fopen(last, "r")) {
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r') {
    }
    job = c == '{';
    fclose(f);
  }
  if (!job) return;
  const std::string tool = crtools::self_dir() + "/crmpirun";
  std::vector<char*> args = {const_cast<char*>("crmpirun"), const_cast<char*>("--restart"),
                             argv[argc - 1]};
  for (int i = 1; i < argc - 1; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(tool.c_str(), args.data());
  fprintf(stderr, "cr_restart: %s is a job checkpoint, but %s cannot be run: %s\n", last,
          tool.c_str(), strerror(errno));
  exit(1);
}

int main(int argc, char** argv) {
  restart_job_if_asked(argc, argv);
  crrestore::Options opt;
  std::string file;
  std::vector<std::string> relocate;
  CLI::App app{
      "Restart the process checkpointed in FILE.  It continues with this command's stdin,\n"
      "stdout and stderr, and this command exits with its exit status.",
      "cr_restart"};
  app.add_flag("-v", opt.verbose, "print each restart stage");
  app.add_flag("-q", opt.quiet, "no warnings (e.g. about sockets restored as placeholders)");
  app.add_flag("--foreign-image", opt.foreign,
               "restart an image recorded for another user, or in a file another user owns, "
               "as yourself (refused otherwise)");
  app.add_option("--relocate", relocate,
                 "OLD=NEW: look for files under OLD in NEW (open files, mapped files, cwd); may "
                 "be repeated")
      ->allow_extra_args(false)
      ->type_name("OLD=NEW");
  app.add_option("--inherit-fd", opt.inherit,
                 "N: keep this command's fd N open, at N, in the restored process (the image "
                 "must not use N); may be repeated")
      ->allow_extra_args(false)
      ->check(CLI::Range(3, 1 << 20))
      ->type_name("N");
  app.add_option("FILE", file, "the image")->required();
  crtools::parse_or_exit(app,
                         "cr_restart [-v] [-q] [--foreign-image] [--relocate OLD=NEW]... "
                         "[--inherit-fd N]... FILE",
                         argc, argv);
  for (const std::string& v : relocate) {
    const size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
      crtools::usage_error(app, "--relocate needs OLD=NEW, got '" + v + "'");
    std::string from = v.substr(0, eq), to = v.substr(eq + 1);
    while (from.size() > 1 && from.back() == '/') from.pop_back();
    while (to.size() > 1 && to.back() == '/') to.pop_back();
    opt.relocate.emplace_back(from, to);
  }
  try {
    crrestore::restart_from(file, opt);
  } catch (const std::exception& e) {
    fprintf(stderr, "cr_restart: %s\n", e.what());
    return 1;
  }
}
