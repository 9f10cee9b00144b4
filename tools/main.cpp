// sam3rt: command-line front end. One line on stderr and a non-zero exit status for any
// failure; usage errors exit with 2, everything else with 1.
#include <CLI/CLI.hpp>

#include <csignal>
#include <string>
#include <cstdio>
#include <exception>

#include "commands.h"
#include "sam3rt/error.h"
#include "sam3rt/version.h"

int main(int argc, char** argv) {
  // Past a file size limit (ulimit -f) a write fails with EFBIG, reported like a full disk,
  // rather than killing the process mid-output.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"sam3rt: Segment Anything Model 3 in C++"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sam3rt ") + sam3rt::version());
  int exit_code = 0;
  sam3rt::cli::add_info_command(app, exit_code);
  sam3rt::cli::add_verify_command(app, exit_code);
  sam3rt::cli::add_precision_gate_command(app, exit_code);
  sam3rt::cli::add_segment_command(app, exit_code);
#ifdef SAM3RT_WITH_SERVER
  sam3rt::cli::add_serve_command(app, exit_code);
#endif
  sam3rt::cli::add_track_command(app, exit_code);
  sam3rt::cli::add_make_random_checkpoint_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "sam3rt: error: %s (see sam3rt --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {  // sam3rt::Error (the library turns ATen's into it)
    std::fprintf(stderr, "sam3rt: error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
