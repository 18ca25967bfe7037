#pragma once
// Runs a shell command line and returns its exit status and what it wrote to stderr (stdout is
// dropped). The pipe keeps concurrent tests from sharing a capture file.
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace deepdyn::testing {

struct CommandResult {
  int status = -1;
  std::string err;
};

inline CommandResult run_command(const std::string& command_line) {
  CommandResult result;
  // Order matters: stderr goes to the pipe (the old stdout), then stdout to /dev/null.
  FILE* pipe = popen((command_line + " 2>&1 >/dev/null").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.err.append(buffer, n);
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace deepdyn::testing
