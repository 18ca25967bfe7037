#pragma once
// What the end-to-end tests of the deepdyn command share: running the binary, reading what it
// wrote, fresh paths under the test temp directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

/// `deepdyn train <model> --out <fresh directory> --set <settings>`, which must fail with every part
/// of `expected` in its error and make no run directory; its result, for further checks.
inline CommandResult expect_refused_before_a_run(const std::string& model, const std::string& settings,
                                                 const std::vector<std::string>& expected) {
  const auto dir = fresh_path(model + "_refused_run");
  auto result = run_cli("train " + model + " --out " + dir + " --set " + settings);
  EXPECT_NE(result.status, 0) << settings;
  for (const auto& part : expected)
    EXPECT_NE(result.err.find(part), std::string::npos) << part << " in: " << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir)) << settings;
  return result;
}

}  // namespace deepdyn::testing
