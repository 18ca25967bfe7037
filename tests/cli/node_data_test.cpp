// deepdyn train node on one's own data: trajectories from CSV, .npy and .pt files written here,
// one's own TorchScript field trained and written back, and bad files refused before a run
// directory exists.
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/arrays.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/cli.h"
#include "support/tensor_files.h"

namespace fs = std::filesystem;

namespace {

using deepdyn::testing::fresh_path;
using deepdyn::testing::read_file;
using deepdyn::testing::run_cli;
using deepdyn::testing::write_pt;

const std::string kTiny =
    " --set iterations=3 --set windows=4 --set window=5 --set hidden=8 --set rtol=1e-5 --set atol=1e-6"
    " --set checkpoint_every=2 --set eval_every=3";

// Trajectories of the harmonic oscillator y = r (cos(t + p), -sin(t + p)) in `dim` = 2 (or with
// a third component r e^{-t}) at irregular times: the table [rows, 2 + dim] of the file formats.
torch::Tensor oscillator_table(int64_t trajectories, int64_t points, int64_t dim = 2) {
  auto generator = at::detail::createCPUGenerator(11);
  std::vector<torch::Tensor> rows;
  for (int64_t k = 0; k < trajectories; ++k) {
    auto t = std::get<0>(torch::sort(torch::rand({points}, generator, torch::kFloat64) * 6));
    t[0] = 0;
    const double r = 0.5 + 0.2 * double(k), p = 0.7 * double(k);
    std::vector<torch::Tensor> columns = {torch::full({points}, double(k), torch::kFloat64), t, r * torch::cos(t + p),
                                          -r * torch::sin(t + p)};
    if (dim == 3) columns.push_back(r * torch::exp(-t));
    rows.push_back(torch::stack(columns, 1));
  }
  return torch::cat(rows);
}

std::string write_csv(const std::string& path, const torch::Tensor& table) {
  std::ofstream out(path);
  out.precision(17);
  out << "trajectory,t";
  for (int64_t j = 2; j < table.size(1); ++j) out << ",y" << j - 1;
  out << "\n";
  auto a = table.accessor<double, 2>();
  for (int64_t i = 0; i < table.size(0); ++i) {
    out << "traj-" << int64_t(a[i][0]);
    for (int64_t j = 1; j < table.size(1); ++j) out << "," << a[i][j];
    out << "\n";
  }
  return path;
}

// The rows of a CSV file written by the command (header skipped), as numbers.
std::vector<std::vector<double>> csv_rows(const std::string& path) {
  std::istringstream lines(read_file(path));
  std::string line;
  std::getline(lines, line);
  std::vector<std::vector<double>> rows;
  while (std::getline(lines, line)) {
    std::vector<double> row;
    std::stringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) row.push_back(std::stod(field));
    rows.push_back(row);
  }
  return rows;
}

TEST(NodeData, TrainsOnCsvNpyAndPtFilesAndExportsItsField) {
  const auto table = oscillator_table(6, 12);
  struct Case {
    std::string file, holdout;
    int64_t evaluated;  // trajectories
    int64_t points;     // held-out observations
  };
  const Case cases[] = {
      {write_csv(fresh_path("oscillator.csv"), table), "trajectory", 1, 11},  // round(0.2 * 6) = 1 set aside
      {fresh_path("oscillator.npy"), "time", 6, 6 * 2},                       // round(0.2 * 12) = 2 per trajectory
      {write_pt(fresh_path("oscillator.pt"), table), "time", 6, 6 * 2},
  };
  deepdyn::io::write_npy(cases[1].file, table.to(torch::kFloat32));
  for (const auto& c : cases) {
    const auto dir = fresh_path("node_data_run");
    auto result =
        run_cli("train node --out " + dir + " --set data=" + c.file + " --set holdout_by=" + c.holdout + kTiny);
    ASSERT_EQ(result.status, 0) << c.file << ": " << result.err;
    const auto evaluation = nlohmann::json::parse(read_file(dir + "/summary.json"))["evaluation"];
    EXPECT_TRUE(std::isfinite(evaluation["mae"].get<double>())) << evaluation;
    EXPECT_GE(evaluation["rmse"].get<double>(), evaluation["mae"].get<double>()) << evaluation;
    EXPECT_EQ(evaluation["trajectories"], c.evaluated) << c.file;
    EXPECT_EQ(evaluation["points"], c.points) << c.file;

    // The exported field integrates to what the run itself samples from the same state.
    ASSERT_TRUE(fs::exists(dir + "/field.pt"));
    result = run_cli("sample " + dir + " --y0 0.3,-0.4 --t 0:2:5 --out " + dir + "/from_y0.csv");
    ASSERT_EQ(result.status, 0) << result.err;
    result = run_cli("solve --field " + dir + "/field.pt --y0 0.3,-0.4 --t 0:2:5 --rtol 1e-5 --atol 1e-6 --out " + dir +
                     "/solved.csv");
    ASSERT_EQ(result.status, 0) << result.err;
    const auto sampled = csv_rows(dir + "/from_y0.csv"), solved = csv_rows(dir + "/solved.csv");
    ASSERT_EQ(sampled.size(), 5u);
    ASSERT_EQ(solved.size(), 5u);
    for (size_t i = 0; i < 5; ++i)
      for (size_t j = 0; j < 3; ++j) EXPECT_NEAR(sampled[i][j + 1], solved[i][j], 1e-9) << i << "," << j;

    // Without --y0: every trajectory of the data from its first observation, --n times each.
    result = run_cli("sample " + dir + " --n 4 --out " + dir + "/all.csv");
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(read_file(dir + "/all.csv").substr(0, 19), "trajectory,t,y1,y2\n");
    const auto all = csv_rows(dir + "/all.csv");
    ASSERT_EQ(all.size(), 6u * 4u);
    EXPECT_EQ(all.back()[0], 5.0);
    EXPECT_EQ(all[0][1], 0.0);
    EXPECT_NEAR(all[0][2], table[0][2].item<double>(), 1e-6);  // from the first observation (float32 in .npy)
  }
}

// A TorchScript field (tests/fixtures/neural_field.pt: 3-D, time-dependent) is trained in place
// of the MLP and written back with its trained weights.
TEST(NodeData, TrainsATorchScriptFieldAndWritesItBack) {
  const auto field = std::string(DEEPDYN_TEST_FIXTURES) + "/neural_field.pt";
  const auto data = write_csv(fresh_path("oscillator3.csv"), oscillator_table(4, 12, 3));
  const auto dir = fresh_path("node_script_run");
  auto result =
      run_cli("train node --out " + dir + " --set data=" + data + " --set field=" + field + kTiny + " --set lr=0.05");
  ASSERT_EQ(result.status, 0) << result.err;
  for (const auto& f : {field, dir + "/field.pt"}) {
    result = run_cli("solve --field " + f + " --y0 0.5,0.1,-0.2 --t 0:1:2 --out " + dir + "/solved.csv");
    ASSERT_EQ(result.status, 0) << f << ": " << result.err;
  }
  const auto trained = csv_rows(dir + "/solved.csv");
  run_cli("solve --field " + field + " --y0 0.5,0.1,-0.2 --t 0:1:2 --out " + dir + "/initial.csv");
  const auto initial = csv_rows(dir + "/initial.csv");
  EXPECT_GT(std::abs(trained[1][1] - initial[1][1]), 1e-6) << "the written field is the untrained one";
  // Resuming a run of a TorchScript field restores its trained parameters.
  result = run_cli("eval " + dir);
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/eval.json"))["mae"],
            nlohmann::json::parse(read_file(dir + "/summary.json"))["evaluation"]["mae"]);
}

TEST(NodeData, BadFilesAreRefusedBeforeARunDirectoryExists) {
  const auto table = oscillator_table(3, 8);
  const auto good = write_csv(fresh_path("good.csv"), table);
  auto with_line = [&](const std::string& name, const std::string& line) {
    const auto path = fresh_path(name);
    std::ofstream(path) << read_file(good) << line;
    return path;
  };
  const auto wrong_rank = fresh_path("flat.npy");
  deepdyn::io::write_npy(wrong_rank, table.flatten());
  const std::pair<std::string, std::vector<std::string>> cases[] = {
      {"data=" + with_line("ragged.csv", "traj-0,7,1\n"), {"line 26", "3 fields where the header has 4"}},
      {"data=" + with_line("nan.csv", "traj-0,7,1,nan\n"), {"line 26", "column y2", "not a finite number"}},
      {"data=" + with_line("backwards.csv", "traj-1,0.5,1,1\n"), {"line 26", "does not move forward in time"}},
      {"data=" + with_line("single.csv", "lonely,0,1,1\n"), {"trajectory 'lonely' has one row"}},
      {"data=" + wrong_rank, {"expected a 2-D array [rows, 2 + d]", "got shape [96]"}},
      {"data=" + fresh_path("absent.csv"), {"cannot be read"}},
      {"data=trajectories.txt", {"config key 'data' must be spiral or a trajectories file"}},
      {"data=" + good + " --set window=9", {"trajectory 'traj-0' has 6 training observations, fewer than window = 9"}},
      {"data=" + good + " --set holdout_by=trajectory --set holdout=0.9", {"leaving none to train on"}},
      {"data=" + good + " --set field=" + fresh_path("absent_field.pt"), {"cannot read the TorchScript field"}},
  };
  for (const auto& [settings, expected] : cases) {
    const auto result = deepdyn::testing::expect_refused_before_a_run("node", settings, expected);
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << "one line: " << result.err;
  }
}

}  // namespace
