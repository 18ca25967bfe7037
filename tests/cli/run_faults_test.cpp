// What the deepdyn command does with faults and bad input a run directory meets: integers past
// int64, runs that failed before their first checkpoint, damaged metrics or checkpoints, an edited
// config, signals after the last iteration, two writers of one directory.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "support/cli.h"
#include "support/spawn_cli.h"

namespace fs = std::filesystem;
using deepdyn::testing::fresh_path;
using deepdyn::testing::read_file;
using deepdyn::testing::run_cli;
using namespace deepdyn::testing;

namespace {

const std::string kSmall =
    " --set batch=16 --set hidden=8,8 --set eval_samples=200 --set checkpoint_every=5 --set log_every=1"
    " --set rtol=1e-4 --set atol=1e-4";

size_t lines_of(const std::string& text) { return size_t(std::count(text.begin(), text.end(), '\n')); }

// `deepdyn <arguments>` stopped after a minute: a regression that trains on instead of refusing
// fails the test rather than hanging it.
CommandResult run_cli_bounded(const std::string& arguments) { return run_command("timeout 60 " + kCli + " " + arguments); }

bool mentions(const CommandResult& result, const std::string& text) {
  return result.err.find(text) != std::string::npos;
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// A run of `iterations` that stopped (SIGTERM) after iteration `stop`, with a checkpoint there.
std::string stopped_run(const std::string& name, int iterations, int stop) {
  const auto dir = fresh_path(name);
  auto result = run_cli("train cnf --out " + dir + kSmall + " --set iterations=" + std::to_string(iterations) +
                        " --stop-after " + std::to_string(stop));
  EXPECT_EQ(result.status, 130) << result.err;
  return dir;
}

}  // namespace

TEST(RunFaults, IntegersPastInt64AndNegativeSeedsAreRefusedBeforeAnyWork) {
  const auto config = fresh_path("huge.json");
  write(config, "{\"checkpoint_every\": 18446744073709551615}");
  const std::pair<std::string, std::string> cases[] = {
      {"train cnf --set iterations=18446744073709551615", "config key 'iterations' must be an integer (at most 9223372036854775807)"},
      {"train cnf --set batch=18446744073709551615", "config key 'batch' must be an integer"},
      {"train cnf --set log_every=9223372036854775808", "config key 'log_every' must be an integer"},
      {"train cnf --set hidden=8,18446744073709551615", "config key 'hidden' must be a list of integers"},
      {"train cnf --config " + config, "config key 'checkpoint_every' must be an integer"},
      {"--seed -1 train cnf", "--seed: must be >= 0, got -1"},
      {"train cnf --config " + ::testing::TempDir(), "is a directory; give a JSON file"},
      {"train cnf --no-such-option", "The following argument was not expected: --no-such-option; run with --help"},
  };
  for (const auto& [arguments, expected] : cases) {
    const auto dir = fresh_path("huge_run");
    auto result = run_cli_bounded(arguments + " --out " + dir);
    EXPECT_EQ(result.status, 1) << arguments;
    EXPECT_EQ(result.err.rfind("deepdyn: error: ", 0), 0u) << arguments << "\n" << result.err;
    EXPECT_TRUE(mentions(result, expected)) << arguments << "\n" << result.err;
    EXPECT_EQ(lines_of(result.err), 1u) << result.err;
    EXPECT_FALSE(fs::exists(dir)) << arguments;
  }
}

// A run that fails before its first checkpoint leaves run.json and config.json: both train --out
// and resume go on from there, and the error says so.
TEST(RunFaults, ARunThatFailedBeforeItsFirstCheckpointIsNoDeadEnd) {
  const auto dir = fresh_path("early_failure");
  const std::string too_large = " --set iterations=4 --set batch=1000000000000";  // 16 TB of points
  auto result = run_cli("train cnf --out " + dir + kSmall + too_large);
  ASSERT_EQ(result.status, 1) << result.err;
  EXPECT_TRUE(mentions(result, "the run stopped before its first checkpoint: fix the cause, then start it again with "
                               "deepdyn train --out " + dir))
      << result.err;
  ASSERT_FALSE(fs::exists(dir + "/checkpoint.pt"));

  // Fixed in config.json, then resumed: it starts from iteration 1 and completes.
  auto config = nlohmann::json::parse(read_file(dir + "/config.json"));
  config["batch"] = 16;
  write(dir + "/config.json", config.dump());
  result = run_cli("resume " + dir);
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/summary.json"))["iterations"], 4);

  // Or replaced by a new train into the same directory.
  const auto again = fresh_path("early_failure_again");
  ASSERT_EQ(run_cli("train cnf --out " + again + kSmall + too_large).status, 1);
  result = run_cli("train cnf --out " + again + kSmall + " --set iterations=3");
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(again + "/config.json"))["batch"], 16);
  EXPECT_EQ(lines_of(read_file(again + "/metrics.jsonl")), 3u);
  // A run with a checkpoint is never replaced.
  result = run_cli("train cnf --out " + again + kSmall);
  EXPECT_TRUE(mentions(result, "already exists and is not empty")) << result.err;
}

TEST(RunFaults, MetricsLinesThatAreJsonButNotMetricsAreErrorsNamingTheLine) {
  const auto dir = stopped_run("bad_metrics", 12, 6);
  const auto metrics = read_file(dir + "/metrics.jsonl");
  const auto third = metrics.find('\n', metrics.find('\n') + 1) + 1;  // where line 3 starts
  for (const std::string inserted : {"{}", "{\"loss\":1.5}", "[1,2]", "7"}) {
    write(dir + "/metrics.jsonl", metrics.substr(0, third) + inserted + "\n" + metrics.substr(third));
    auto result = run_cli("resume " + dir);
    EXPECT_EQ(result.status, 1) << inserted << ": " << result.err;  // not 139, a segfault
    EXPECT_TRUE(mentions(result, "line 3 of '" + dir + "/metrics.jsonl' is not a metrics line")) << result.err;
    EXPECT_EQ(lines_of(result.err), 1u) << result.err;
  }
  // A loss that is a string would only have failed at the end, when the curves are drawn.
  write(dir + "/metrics.jsonl", std::regex_replace(metrics, std::regex("\"loss\":[^,]*"), "\"loss\":\"abc\"",
                                                   std::regex_constants::format_first_only));
  EXPECT_TRUE(mentions(run_cli("resume " + dir), "line 1 of")) << read_file(dir + "/metrics.jsonl");
  // A NaN loss is written as null: a valid line, drawn as a gap. A line cut by a crash is dropped.
  write(dir + "/metrics.jsonl", std::regex_replace(metrics, std::regex("\"loss\":[^,]*"), "\"loss\":null",
                                                   std::regex_constants::format_first_only) +
                                    "{\"iteration\":7,\"lo");
  auto result = run_cli("resume " + dir);
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_TRUE(fs::exists(dir + "/summary.json"));
}

TEST(RunFaults, AConfigWithEditedLayerSizesIsRefusedOnResume) {
  const auto dir = stopped_run("edited_config", 12, 6);
  auto config = nlohmann::json::parse(read_file(dir + "/config.json"));
  config["hidden"] = {16, 16};
  write(dir + "/config.json", config.dump());
  for (const std::string command : {"resume ", "eval "}) {
    auto result = run_cli(command + dir);
    EXPECT_EQ(result.status, 1) << command << result.err;
    EXPECT_TRUE(std::regex_search(result.err, std::regex("holds [a-z0-9_.]+ of shape \\[8(, [0-9]+)?\\] where config.json "
                                                         "makes \\[16(, [0-9]+)?\\]: the config was changed")))
        << result.err;
  }
}

// One byte of a tensor changed: LibTorch would load it as another number; the zip CRC-32 catches it.
TEST(RunFaults, ACheckpointWithAChangedByteIsRefused) {
  const auto dir = stopped_run("flipped_byte", 12, 6);
  auto bytes = read_file(dir + "/checkpoint.pt");
  // The first tensor entry: its local header (PKWARE APPNOTE 4.3.7), then its data.
  size_t at = 0, data = 0;
  const auto le16 = [&](size_t i) { return size_t(uint8_t(bytes[i])) | size_t(uint8_t(bytes[i + 1])) << 8; };
  while ((at = bytes.find(std::string("PK\x03\x04", 4), at)) != std::string::npos) {
    if (bytes.substr(at + 30, le16(at + 26)).find("/data/") != std::string::npos) {
      data = at + 30 + le16(at + 26) + le16(at + 28);
      break;
    }
    ++at;
  }
  ASSERT_GT(data, 0u) << "no tensor entry found";
  bytes[data] ^= 0x10;
  write(dir + "/checkpoint.pt", bytes);
  for (const std::string command : {"resume ", "eval "}) {
    auto result = run_cli(command + dir);
    EXPECT_EQ(result.status, 1) << command << result.err;
    EXPECT_TRUE(mentions(result, "checkpoint.pt' is damaged: its entry")) << result.err;
    EXPECT_TRUE(mentions(result, "fails its CRC-32 check")) << result.err;
  }
}

TEST(RunFaults, EvalOfAnUnfinishedRunSaysWhichCheckpointItUses) {
  const auto dir = stopped_run("unfinished", 12, 6);
  auto result = run_cli("eval " + dir);
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_TRUE(mentions(result, "is unfinished: using its checkpoint of iteration 6 of 12")) << result.err;
}

// After the last iteration only pictures and the evaluation remain: SIGINT ends the process at
// once (it used to be ignored until the end), and resume writes what is missing.
TEST(RunFaults, ASignalDuringTheFinalEvaluationStopsAtOnceAndResumeFinishes) {
  const auto dir = fresh_path("final_signal"), err = fresh_path("final_signal.err");
  const pid_t pid = spawn_cli({"train", "cnf", "--out", dir, "--set", "iterations=3", "--set", "batch=16", "--set",
                               "hidden=8,8", "--set", "log_every=1", "--set", "eval_samples=4000000"},
                              {}, err);
  // curves.png is written after the last iteration, before the pictures and the evaluation (seconds).
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!fs::exists(dir + "/curves.png") && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const bool trained = fs::exists(dir + "/curves.png");
  kill(pid, SIGINT);
  const auto status = wait_for(pid, std::chrono::seconds(3));
  if (!status) kill_and_reap(pid);
  ASSERT_TRUE(trained) << read_file(err);
  ASSERT_TRUE(status) << "still evaluating 3 s after SIGINT";
  EXPECT_EQ(*status, 130);
  EXPECT_NE(read_file(err).find("interrupted after the last iteration, before the summary; the trained model is "
                                "saved; write the pictures and evaluation with: deepdyn resume " + dir),
            std::string::npos)
      << read_file(err);
  EXPECT_FALSE(fs::exists(dir + "/summary.json"));
  auto config = nlohmann::json::parse(read_file(dir + "/config.json"));
  config["eval_samples"] = 200;
  write(dir + "/config.json", config.dump());
  auto result = run_cli("resume " + dir);
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_TRUE(fs::exists(dir + "/summary.json"));
  EXPECT_EQ(lines_of(read_file(dir + "/metrics.jsonl")), 3u);
}

// Two resumes of one directory at once used to share a temporary file name and write duplicated
// metric lines; the second is now refused while the first writes.
TEST(RunFaults, ASecondWriterOfARunDirectoryIsRefused) {
  const auto dir = stopped_run("two_writers", 1000000, 2), err = fresh_path("two_writers.err");
  const pid_t first = spawn_cli({"resume", dir}, {}, err);
  const bool training = wait_for_metrics(dir, 4, std::chrono::seconds(60));
  const auto second = run_cli_bounded("resume " + dir), third = run_cli_bounded("train cnf --out " + dir);
  kill(first, SIGINT);
  const auto status = wait_for(first, std::chrono::seconds(30));
  if (!status) kill_and_reap(first);
  ASSERT_TRUE(training) << read_file(err);
  EXPECT_EQ(second.status, 1);
  EXPECT_TRUE(mentions(second, "another deepdyn process is writing to the run directory '" + dir + "'")) << second.err;
  EXPECT_TRUE(mentions(third, "already exists and is not empty")) << third.err;
  EXPECT_EQ(status, std::optional<int>(130)) << read_file(err);
  // One writer: iterations 1, 2, ... each once.
  std::istringstream lines(read_file(dir + "/metrics.jsonl"));
  int64_t expected = 1;
  for (std::string line; std::getline(lines, line); ++expected)
    EXPECT_EQ(nlohmann::json::parse(line)["iteration"].get<int64_t>(), expected);
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
}
