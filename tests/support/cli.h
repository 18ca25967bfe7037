#pragma once
// What the end-to-end tests of the deepdyn command share: running the binary, reading what it
// wrote, fresh paths under the test temp directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/run_command.h"

namespace deepdyn::testing {

inline const std::string kCli = DEEPDYN_CLI;

/// `deepdyn <arguments>`: its exit status and stderr.
inline CommandResult run_cli(const std::string& arguments) { return run_command(kCli + " " + arguments); }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// A path under the test temp directory, removed if it was there.
inline std::string fresh_path(const std::string& name) {
  const auto path = ::testing::TempDir() + "deepdyn_" + name;
  std::filesystem::remove_all(path);
  return path;
}

}  // namespace deepdyn::testing
