// cr_restart FILE -- restart a process from its image (BLCR's cr_restart).
//
// This process becomes the restored one: it keeps cr_restart's stdin,
// stdout and stderr, and its exit status is the restored program's.
#include <stdio.h>
#include <string.h>

#include <string>
#include <vector>

#include "cli.h"
#include "reader.h"
#include "restore.h"

int main(int argc, char** argv) {
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
