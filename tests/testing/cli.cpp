#include "testing/cli.h"

#include <sys/wait.h>

#include <cstdio>

namespace sam3rt::testing {

CliRun run_cli(const std::string& args) { return run_shell(std::string(SAM3RT_CLI_PATH) + " " + args + " 2>&1"); }

CliRun run_shell(const std::string& command) {
  CliRun r;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace sam3rt::testing
