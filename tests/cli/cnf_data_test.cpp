// deepdyn train cnf on points from files written here: any dimension, standardised by the run
// (the transform kept in its checkpoint), held-out NLL in nats and bits per dimension, and bad
// files refused before a run directory exists.
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

const std::string kTiny =
    " --set iterations=3 --set batch=32 --set hidden=8,8 --set rtol=1e-4 --set atol=1e-4 --set checkpoint_every=2";

// Points far from the origin and on different scales: standardisation matters.
torch::Tensor points(int64_t n, int64_t d) {
  auto generator = at::detail::createCPUGenerator(5);
  return torch::randn({n, d}, generator, torch::kFloat64) * torch::linspace(1, 20, d, torch::kFloat64) + 100;
}

TEST(CnfData, TrainsOnPointsOfAnyDimensionInTheirOwnUnits) {
  const auto csv = fresh_path("points3.csv");
  {
    std::ofstream out(csv);
    out << "height,width,depth\n";
    const auto x = points(200, 3);
    for (int64_t i = 0; i < x.size(0); ++i)
      out << x[i][0].item<double>() << "," << x[i][1].item<double>() << "," << x[i][2].item<double>() << "\n";
  }
  const auto npy = fresh_path("points2.npy");
  deepdyn::io::write_npy(npy, points(100, 2));
  const auto pt = deepdyn::testing::write_pt(fresh_path("points1.pt"), points(60, 1));
  const std::tuple<std::string, int64_t, int64_t, std::string> cases[] = {
      {csv, 3, 40, "pairs.png"}, {npy, 2, 20, "density.png"}, {pt, 1, 12, "pairs.png"}};
  for (const auto& [file, dim, held_out, picture] : cases) {
    const auto dir = fresh_path("cnf_data_run");
    auto result = run_cli("train cnf --out " + dir + " --set data=" + file + kTiny);
    ASSERT_EQ(result.status, 0) << file << ": " << result.err;
    const auto evaluation = nlohmann::json::parse(read_file(dir + "/summary.json"))["evaluation"];
    const double nll = evaluation["nll"].get<double>();
    EXPECT_TRUE(std::isfinite(nll)) << evaluation;
    EXPECT_NEAR(evaluation["bits_per_dim"].get<double>(), nll / (double(dim) * std::log(2.0)), 1e-9) << evaluation;
    EXPECT_EQ(evaluation["held_out_samples"], held_out) << file;  // 20% of the points
    EXPECT_TRUE(fs::exists(dir + "/" + picture)) << file;

    // eval restores the model with its standardisation from the checkpoint.
    result = run_cli("eval " + dir);
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/eval.json"))["nll"], evaluation["nll"]);

    // Samples come back in the data's units (around 100), with the data's column names.
    result = run_cli("sample " + dir + " --n 50 --out " + dir + "/samples.csv");
    ASSERT_EQ(result.status, 0) << result.err;
    std::istringstream lines(read_file(dir + "/samples.csv"));
    std::string line;
    std::getline(lines, line);
    EXPECT_EQ(line, dim == 3 ? "height,width,depth" : dim == 2 ? "x1,x2" : "x1");
    double sum = 0;
    int count = 0;
    while (std::getline(lines, line)) sum += std::stod(line.substr(0, line.find(','))), ++count;
    EXPECT_EQ(count, 50);
    EXPECT_NEAR(sum / count, 100, 10) << file;
  }
}

TEST(CnfData, BadFilesAreRefusedBeforeARunDirectoryExists) {
  const auto numbers_only = fresh_path("numbers.csv");
  std::ofstream(numbers_only) << "1,2\n3,4\n5,6\n";
  const auto nan = fresh_path("nan.csv");
  std::ofstream(nan) << "a,b\n1,2\n3,nan\n4,5\n";
  const auto flat = fresh_path("flat.npy");
  deepdyn::io::write_npy(flat, torch::zeros({10}));
  const std::pair<std::string, std::string> cases[] = {
      {"data=" + numbers_only, "is numbers, not a header"},
      {"data=" + nan, "line 3, column b: nan is not a finite number"},
      {"data=" + flat, "expected a 2-D array [n, d] of points"},
      {"data=" + fresh_path("absent.npy"), "does not exist"},
      {"data=crescents", "must be a toy density (8gaussians"},
  };
  for (const auto& [settings, expected] : cases)
    deepdyn::testing::expect_refused_before_a_run("cnf", settings, {expected});
}

}  // namespace
