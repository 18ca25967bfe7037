// End-to-end tests of `deepdyn solve`: the binary integrates a TorchScript field made in Python
// like the library does, writes CSV / stats JSON, and refuses bad input with a one-line error.
#include <deepdyn/deepdyn.h>
#include <deepdyn/ode/script_field.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "support/cli.h"

namespace dd = deepdyn;

namespace {

const std::string kField = std::string(DEEPDYN_TEST_FIXTURES) + "/neural_field.pt";

using deepdyn::testing::run_cli;
using deepdyn::testing::read_file;

// Rows of a CSV with a header line, as a [rows, columns] float64 tensor.
torch::Tensor read_csv(const std::string& path) {
  std::istringstream lines(read_file(path));
  std::string line;
  std::getline(lines, line);  // header
  std::vector<double> values;
  int64_t rows = 0;
  while (std::getline(lines, line)) {
    std::stringstream cells(line);
    std::string cell;
    while (std::getline(cells, cell, ',')) values.push_back(std::stod(cell));
    ++rows;
  }
  return torch::tensor(values, torch::kFloat64).view({rows, -1});
}

}  // namespace

TEST(SolveCommand, IntegratesATorchScriptField) {
  const std::string csv = ::testing::TempDir() + "trajectory.csv", stats = ::testing::TempDir() + "stats.json";
  auto result = run_cli("solve --field " + kField + " --y0 0.5,-1,0.3 --t 0:2:5 --rtol 1e-10 --atol 1e-10 --out " + csv +
                    " --stats " + stats);
  ASSERT_EQ(result.status, 0) << result.err;
  auto table = read_csv(csv);
  ASSERT_EQ(table.sizes(), (std::vector<int64_t>{5, 4}));
  auto expected = dd::ode::solve(dd::ode::ScriptField(kField), torch::tensor({0.5, -1.0, 0.3}, torch::kFloat64),
                                 torch::linspace(0, 2, 5, torch::kFloat64), dd::ode::SolveOptions().rtol(1e-10).atol(1e-10))
                      .ys;
  EXPECT_TRUE(torch::allclose(table.narrow(1, 1, 3), expected, 0, 1e-12));
  EXPECT_TRUE(torch::allclose(table.select(1, 0), torch::linspace(0, 2, 5, torch::kFloat64)));
  const auto json = read_file(stats);
  EXPECT_NE(json.find("\"termination\": \"success\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"nfe\""), std::string::npos) << json;
}

TEST(SolveCommand, BadInputIsAOneLineError) {
  const std::string fixtures = DEEPDYN_TEST_FIXTURES;
  const std::pair<std::string, std::string> cases[] = {
      {"solve --field " + fixtures + "/wrong_signature.pt --y0 1 --t 0,1", "forward must be forward(self, t: Tensor"},
      {"solve --field /nonexistent.pt --y0 1 --t 0,1", "cannot read the TorchScript field"},
      {"solve --field " + kField + " --y0 1,x --t 0,1", "--y0: 'x' is not a number"},
      {"solve --field " + kField + " --y0 1,2,3 --t 0,1 --rtol -1", "--rtol and --atol must be > 0"},
      {"solve --field " + kField + " --y0 1,2,3 --t 0,1 --method foo",
       "unknown ODE method 'foo': valid names are euler, midpoint"},
      {"solve --field " + kField + " --y0 1,2 --t 0,1", "failed for a state y of shape [2]"},
      {"solve --field " + kField + " --y0 1,2,3 --t 0:1:1", "count >= 2"},
  };
  for (const auto& [arguments, expected] : cases) {
    auto result = run_cli(arguments);
    EXPECT_NE(result.status, 0) << arguments;
    EXPECT_NE(result.err.find(expected), std::string::npos) << arguments << "\n" << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
}
