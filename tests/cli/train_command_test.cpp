// End-to-end tests of deepdyn train / resume / eval / sample on tiny settings: the run directory's
// files, bad input refused before any work, and an interrupted run resumed bit for bit.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/cli.h"

namespace fs = std::filesystem;

namespace {

const std::string kTiny =
    " --set iterations=6 --set batch=32 --set hidden=8,8 --set checkpoint_every=2 --set log_every=2"
    " --set eval_samples=400 --set rtol=1e-4 --set atol=1e-4";

using deepdyn::testing::fresh_path;
using deepdyn::testing::read_file;
using deepdyn::testing::run_cli;

// Width and height from a PNG's IHDR chunk (and that the signature is PNG's).
std::pair<int, int> png_size(const std::string& path) {
  const auto bytes = read_file(path);
  if (bytes.size() < 24 || bytes.compare(1, 3, "PNG") != 0) return {0, 0};
  auto be32 = [&](size_t at) {
    return (uint8_t(bytes[at]) << 24) | (uint8_t(bytes[at + 1]) << 16) | (uint8_t(bytes[at + 2]) << 8) |
           uint8_t(bytes[at + 3]);
  };
  return {int(be32(16)), int(be32(20))};
}

}  // namespace

TEST(TrainCommand, CnfRunWritesItsDirectoryAndServesEvalAndSample) {
  const auto dir = fresh_path("cnf_run");
  auto result = run_cli("train cnf --out " + dir + kTiny);
  ASSERT_EQ(result.status, 0) << result.err;
  for (auto name : {"run.json", "config.json", "metrics.jsonl", "checkpoint.pt", "summary.json"})
    EXPECT_TRUE(fs::exists(dir + "/" + name)) << name;
  auto config = nlohmann::json::parse(read_file(dir + "/config.json"));
  EXPECT_EQ(config["iterations"], 6);
  EXPECT_EQ(config["data"], "8gaussians");  // defaults fill the keys not set
  std::istringstream lines(read_file(dir + "/metrics.jsonl"));
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    auto m = nlohmann::json::parse(line);
    EXPECT_TRUE(std::isfinite(m["loss"].get<double>()));
    EXPECT_GT(m["nfe_forward"].get<int>(), 0);
    ++count;
  }
  EXPECT_EQ(count, 3);
  auto summary = nlohmann::json::parse(read_file(dir + "/summary.json"));
  EXPECT_TRUE(std::isfinite(summary["evaluation"]["nll"].get<double>()));
  EXPECT_EQ(png_size(dir + "/density.png"), std::make_pair(1260, 420));
  EXPECT_EQ(png_size(dir + "/curves.png"), std::make_pair(1000, 400));

  result = run_cli("eval " + dir);
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/eval.json"))["nll"], summary["evaluation"]["nll"]);

  const auto csv = dir + "/samples.csv";
  result = run_cli("sample " + dir + " --n 50 --out " + csv);
  ASSERT_EQ(result.status, 0) << result.err;
  std::istringstream rows(read_file(csv));
  std::getline(rows, line);
  EXPECT_EQ(line, "x1,x2");
  count = 0;
  while (std::getline(rows, line)) {
    EXPECT_TRUE(std::isfinite(std::stod(line.substr(0, line.find(','))))) << line;
    ++count;
  }
  EXPECT_EQ(count, 50);
}

TEST(TrainCommand, BadInputIsRefusedBeforeAnyWork) {
  const auto malformed = ::testing::TempDir() + "deepdyn_malformed.json";
  std::ofstream(malformed) << "{\"iterations\": 5,";
  const auto unknown = ::testing::TempDir() + "deepdyn_unknown.json";
  std::ofstream(unknown) << "{\"iteratons\": 5}";
  const std::pair<std::string, std::string> cases[] = {
      {"--config " + malformed, "is not valid JSON"},
      {"--config " + unknown, "unknown config key 'iteratons'; valid keys are: iterations"},
      {"--set rtol=-1", "config key 'rtol' must be > 0, got -1"},
      {"--set iterations=abc", "config key 'iterations' must be an integer"},
      {"--set iterations=2.5", "config key 'iterations' must be an integer"},
      {"--set data=9gaussians", "must be a toy density (8gaussians, checkerboard"},
      {"--set holdout=1", "config key 'holdout' must be < 1, got 1"},
      {"--set hidden=8,-1", "config key 'hidden' must be > 0"},
      {"--set nokey=1", "unknown config key 'nokey'"},
  };
  for (const auto& [arguments, expected] : cases) {
    const auto dir = fresh_path("bad_run");
    auto result = run_cli("train cnf --out " + dir + " " + arguments);
    EXPECT_NE(result.status, 0) << arguments;
    EXPECT_NE(result.err.find(expected), std::string::npos) << arguments << "\n" << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_FALSE(fs::exists(dir)) << "a refused run must leave no directory: " << arguments;
  }
}

TEST(TrainCommand, MissingOrDamagedCheckpointsAreClearErrors) {
  const auto dir = fresh_path("stopped_run");
  // Stopped at iteration 1, before the first regular checkpoint; then the checkpoint is removed.
  auto result = run_cli("train cnf --out " + dir + kTiny + " --set checkpoint_every=5 --stop-after 1");
  ASSERT_EQ(result.status, 130) << result.err;
  EXPECT_FALSE(fs::exists(dir + "/summary.json"));
  fs::remove(dir + "/checkpoint.pt");
  result = run_cli("eval " + dir);
  EXPECT_NE(result.status, 0);
  EXPECT_NE(result.err.find("has no checkpoint.pt: the run stopped before its first checkpoint, so there is no trained "
                            "model yet; train it with deepdyn resume " +
                            dir),
            std::string::npos)
      << result.err;
  std::ofstream(dir + "/checkpoint.pt") << "garbage";
  result = run_cli("resume " + dir);
  EXPECT_NE(result.status, 0);
  EXPECT_NE(result.err.find("checkpoint.pt' is not a zip archive"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  result = run_cli("resume " + ::testing::TempDir());
  EXPECT_NE(result.err.find("is not a deepdyn run directory"), std::string::npos) << result.err;
}

TEST(TrainCommand, InterruptedAndResumedRunEndsBitForBitLikeAnUninterruptedOne) {
  const std::string float64 = kTiny + " --set dtype=float64 --set iterations=8 --set checkpoint_every=3";
  const auto whole = fresh_path("whole_run"), split = fresh_path("split_run");
  auto result = run_cli("--seed 3 train cnf --out " + whole + float64);
  ASSERT_EQ(result.status, 0) << result.err;
  // SIGTERM after iteration 5: the checkpoint is written there, between the regular ones at 3 and 6.
  result = run_cli("--seed 3 train cnf --out " + split + float64 + " --stop-after 5");
  ASSERT_EQ(result.status, 130) << result.err;
  EXPECT_NE(result.err.find("deepdyn resume " + split), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(split + "/summary.json"));
  result = run_cli("resume " + split);
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(read_file(whole + "/metrics.jsonl").size() > 0, true);
  auto a = nlohmann::json::parse(read_file(whole + "/summary.json")),
       b = nlohmann::json::parse(read_file(split + "/summary.json"));
  EXPECT_EQ(a["evaluation"]["nll"].get<double>(), b["evaluation"]["nll"].get<double>());
  EXPECT_EQ(a["final_loss"].get<double>(), b["final_loss"].get<double>());
  ASSERT_EQ(run_cli("sample " + whole + " --n 20 --out " + whole + "/s.csv").status, 0);
  ASSERT_EQ(run_cli("sample " + split + " --n 20 --out " + split + "/s.csv").status, 0);
  EXPECT_EQ(read_file(whole + "/s.csv"), read_file(split + "/s.csv"));
}

// Every model type trains on tiny settings and serves eval and sample.
TEST(TrainCommand, EveryModelTypeRunsEndToEnd) {
  struct Case {
    std::string model, settings, metric, picture;
    std::pair<int, int> size;
  };
  const Case cases[] = {
      {"node",
       " --set iterations=4 --set windows=4 --set window=5 --set hidden=8 --set rtol=1e-5 --set atol=1e-6",
       "mae",
       "trajectory.png",
       {1200, 500}},
      {"deq", " --set iterations=3 --set batch=16 --set width=16 --set eval_images=300", "accuracy", "", {0, 0}},
      {"ode2vae",
       " --set iterations=3 --set batch=4 --set sequences=8 --set eval_sequences=4 --set frames=6 --set latent=4"
       " --set field_hidden=8",
       "mse",
       "predictions.png",
       {90 + 6 * 34, 24 + 4 * 76}},
      {"ode2vae",  // rotating Fashion-MNIST ankle boots: 16 angles of 28x28
       " --set data=fmnist --set iterations=2 --set batch=4 --set sequences=8 --set eval_sequences=4 --set latent=4"
       " --set field_hidden=8",
       "mse",
       "",
       {0, 0}},
  };
  for (const auto& c : cases) {
    const auto dir = fresh_path(c.model + "_run");
    auto result =
        run_cli("train " + c.model + " --out " + dir + " --set checkpoint_every=2 --set log_every=1" + c.settings);
    ASSERT_EQ(result.status, 0) << c.model << ": " << result.err;
    auto summary = nlohmann::json::parse(read_file(dir + "/summary.json"));
    EXPECT_TRUE(std::isfinite(summary["evaluation"][c.metric].get<double>())) << c.model << summary.dump();
    EXPECT_EQ(png_size(dir + "/curves.png"), std::make_pair(1000, 400)) << c.model;
    if (!c.picture.empty()) {
      EXPECT_EQ(png_size(dir + "/" + c.picture), c.size) << c.model;
    }
    result = run_cli("eval " + dir);
    EXPECT_EQ(result.status, 0) << c.model << ": " << result.err;
    result = run_cli("sample " + dir + " --n 3 --out " + dir + "/samples.pt");
    if (c.model == "deq") {
      EXPECT_NE(result.err.find("nothing to sample"), std::string::npos) << result.err;
    } else {
      EXPECT_EQ(result.status, 0) << c.model << ": " << result.err;
      EXPECT_TRUE(fs::exists(dir + "/samples.pt")) << c.model;
    }
  }
}

// keep_best: the run ends with the model of its best evaluation, and a resumed run remembers the
// best from before its interruption. (At lr 0.1 this tiny run's best evaluation is not its last.)
TEST(TrainCommand, KeepBestEndsWithTheBestEvaluatedModelAndSurvivesResume) {
  const std::string tiny =
      " --set iterations=12 --set windows=4 --set window=5 --set hidden=8 --set rtol=1e-5"
      " --set atol=1e-6 --set eval_every=3 --set keep_best=true --set log_every=1"
      " --set checkpoint_every=100 --set lr=0.1 --set lr_schedule=constant";
  const auto whole = fresh_path("keep_best_whole"), split = fresh_path("keep_best_split");
  auto result = run_cli("--seed 5 train node --out " + whole + tiny);
  ASSERT_EQ(result.status, 0) << result.err;
  int64_t best_iteration = 0;
  double best_mae = INFINITY;
  std::istringstream lines(read_file(whole + "/metrics.jsonl"));
  for (std::string text; std::getline(lines, text);) {
    const auto line = nlohmann::json::parse(text);
    EXPECT_EQ(line["lr"].get<double>(), 0.1);
    if (!line.contains("evaluation")) continue;
    EXPECT_TRUE(line["iteration"].get<int64_t>() % 3 == 0) << text;
    if (line["evaluation"]["mae"].get<double>() < best_mae) {
      best_mae = line["evaluation"]["mae"].get<double>();
      best_iteration = line["iteration"].get<int64_t>();
    }
  }
  ASSERT_LT(best_iteration, 12) << "the test needs a best evaluation before the last";
  const auto summary = nlohmann::json::parse(read_file(whole + "/summary.json"));
  EXPECT_EQ(summary["kept_iteration"].get<int64_t>(), best_iteration);
  EXPECT_EQ(summary["evaluation"]["mae"].get<double>(), best_mae);  // the kept model evaluated again

  // Stopped just after the best evaluation: the resumed run must take it from the checkpoint.
  result = run_cli("--seed 5 train node --out " + split + tiny + " --stop-after " + std::to_string(best_iteration + 1));
  ASSERT_EQ(result.status, 130) << result.err;
  ASSERT_EQ(run_cli("resume " + split).status, 0);
  const auto resumed = nlohmann::json::parse(read_file(split + "/summary.json"));
  EXPECT_EQ(resumed["kept_iteration"], summary["kept_iteration"]);
  EXPECT_EQ(resumed["evaluation"]["mae"], summary["evaluation"]["mae"]);
  result = run_cli("eval " + split);
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(split + "/eval.json"))["mae"], summary["evaluation"]["mae"]);

  result = run_cli("train node --out " + fresh_path("keep_best_blind") + " --set keep_best=true --set eval_every=0");
  EXPECT_NE(result.status, 0);
  EXPECT_NE(result.err.find("keep_best needs evaluations to choose from: set eval_every > 0"), std::string::npos)
      << result.err;
}

// The cosine schedule (node's default) goes from lr at the first iteration to lr_end at the last.
TEST(TrainCommand, CosineScheduleRunsFromLrToLrEnd) {
  const auto dir = fresh_path("cosine_run");
  auto result = run_cli("train node --out " + dir +
                        " --set iterations=5 --set windows=4 --set window=5 --set hidden=8 --set rtol=1e-5"
                        " --set atol=1e-6 --set keep_best=false --set eval_every=0 --set log_every=1"
                        " --set lr=0.02 --set lr_end=0.0002");
  ASSERT_EQ(result.status, 0) << result.err;
  std::vector<double> rates;
  std::istringstream lines(read_file(dir + "/metrics.jsonl"));
  for (std::string text; std::getline(lines, text);) rates.push_back(nlohmann::json::parse(text)["lr"].get<double>());
  ASSERT_EQ(rates.size(), 5u);
  for (size_t i = 0; i < rates.size(); ++i)  // lr_end + (lr - lr_end) (1 + cos(pi (it - 1) / (iterations - 1))) / 2
    EXPECT_NEAR(rates[i], 0.0002 + 0.5 * (0.02 - 0.0002) * (1 + std::cos(M_PI * double(i) / 4)), 1e-15) << i;
}
