// Running the sam3rt command line from tests, as a user would.
#pragma once

#include <cstddef>
#include <string>

namespace sam3rt::testing {

struct CliRun {
  int code = -1;        // exit status; -1 when it did not exit normally or could not start
  std::string output;   // stdout and stderr together
};

// Runs `sam3rt ARGS` (the built CLI) through the shell and waits for it.
CliRun run_cli(const std::string& args);

// Runs a whole shell command line (sh -c) and waits for it; stderr is not captured unless
// the command redirects it.
CliRun run_shell(const std::string& command);

// Newlines in s.
size_t count_lines(const std::string& s);

}  // namespace sam3rt::testing
