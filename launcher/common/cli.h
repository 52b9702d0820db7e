// cli.h -- the command-line conventions every tool shares, on top of CLI11.
//
//   --help / -h   the help on stdout, exit status 0
//   bad usage     "TOOL: what is wrong" and a usage line on stderr, exit
//                 status 2 (1 is for a failed operation)
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace crtools {

// Parses @argv into @app, or exits as described above.  @usage is the
// one-line synopsis shown with an error ("cr_info [--no-verify] FILE").
inline void parse_or_exit(CLI::App& app, const char* usage, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    fputs(app.help().c_str(), stdout);
    exit(0);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (dynamic_cast<const CLI::ExtrasError*>(&e)) what = "unknown option or argument: " + what;
    fprintf(stderr, "%s: %s\nusage: %s\n(--help for more)\n", app.get_name().c_str(), what.c_str(),
            usage);
    exit(2);
  }
}

// Fails like a parse error: for values the tool checks itself.
[[noreturn]] inline void usage_error(const CLI::App& app, const std::string& what) {
  fprintf(stderr, "%s: %s\n", app.get_name().c_str(), what.c_str());
  exit(2);
}

}  // namespace crtools
