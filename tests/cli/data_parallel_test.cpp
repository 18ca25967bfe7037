// Data-parallel training through the deepdyn command on loopback: two processes end where one
// process on the combined batch ends, a resumed two-process run ends where an uninterrupted one
// does, and a dead rank or an unreachable store ends the others with an error, not a hang.
#include <deepdyn/dist/launch.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "support/cli.h"
#include "support/spawn_cli.h"

namespace fs = std::filesystem;
using deepdyn::testing::fresh_path;
using deepdyn::testing::read_file;
using deepdyn::testing::run_cli;
using deepdyn::testing::Clock;
using deepdyn::testing::kill_and_reap;
using deepdyn::testing::spawn_cli;
using deepdyn::testing::wait_for;
using deepdyn::testing::wait_for_metrics;

namespace {

// The parameters of a run's checkpoint, by their path in the model ("f.0.weight").
void collect(torch::serialize::InputArchive& archive, const std::string& prefix,
             std::map<std::string, torch::Tensor>& out) {
  for (const auto& key : archive.keys()) {
    torch::Tensor tensor;
    if (archive.try_read(key, tensor)) {
      out[prefix + key] = tensor;
    } else {
      torch::serialize::InputArchive child;
      archive.read(key, child);
      collect(child, prefix + key + ".", out);
    }
  }
}

std::map<std::string, torch::Tensor> checkpoint_parameters(const std::string& run_dir) {
  torch::serialize::InputArchive archive, model;
  archive.load_from(run_dir + "/checkpoint.pt");
  archive.read("model", model);
  std::map<std::string, torch::Tensor> out;
  collect(model, "", out);
  return out;
}

// Largest absolute difference between two runs' parameters (they must have the same names).
double parameter_distance(const std::string& a, const std::string& b) {
  const auto pa = checkpoint_parameters(a), pb = checkpoint_parameters(b);
  EXPECT_EQ(pa.size(), pb.size());
  EXPECT_GT(pa.size(), 0u);
  double distance = 0;
  for (const auto& [name, tensor] : pa) {
    EXPECT_EQ(pb.count(name), 1u) << name;
    if (pb.count(name)) distance = std::max(distance, (tensor - pb.at(name)).abs().max().item<double>());
  }
  return distance;
}

// The child of `parent` whose environment has RANK=<rank>.
std::optional<pid_t> child_with_rank(pid_t parent, int rank) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto stat = read_file(entry.path().string() + "/stat");
    const auto after_name = stat.rfind(')');
    if (after_name == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + after_name + 1, " %c %d", &state, &ppid) != 2 || ppid != parent) continue;
    const auto environment = read_file(entry.path().string() + "/environ");
    if (environment.find(std::string("RANK=") + std::to_string(rank) + '\0') != std::string::npos &&
        environment.find("LOCAL_RANK=" + std::to_string(rank) + '\0') != std::string::npos)
      return pid_t(std::stoi(name));
  }
  return std::nullopt;
}

// Trains `model` once in one process and once in two; returns the two run directories.
std::pair<std::string, std::string> train_in_one_and_two_processes(const std::string& model,
                                                                   const std::string& settings) {
  const auto one = fresh_path("dp_" + model + "_one"), two = fresh_path("dp_" + model + "_two");
  auto result = run_cli("train " + model + " --out " + one + settings);
  EXPECT_EQ(result.status, 0) << result.err;
  result = run_cli("train " + model + " --nproc 2 --out " + two + settings);
  EXPECT_EQ(result.status, 0) << result.err;
  return {one, two};
}

// `deepdyn train cnf --nproc 2` for a million iterations, in the background: the launcher's pid.
pid_t start_endless_two_process_run(const std::string& dir, const std::string& stderr_path, int checkpoint_every) {
  return spawn_cli({"train", "cnf", "--nproc", "2", "--out", dir, "--timeout", "20", "--set", "iterations=1000000",
                    "--set", "batch=64", "--set", "hidden=8,8", "--set", "log_every=1", "--set",
                    "checkpoint_every=" + std::to_string(checkpoint_every)},
                   {}, stderr_path);
}

const std::string kCnf =
    " --set iterations=6 --set batch=32 --set hidden=8,8 --set dtype=float64 --set eval_samples=200 --set log_every=1"
    " --set checkpoint_every=2";

}  // namespace

// A fixed-step solver and the exact trace keep every sample's computation independent of the
// others, so the mean of the ranks' gradients is the combined batch's gradient up to rounding.
// (Adaptive steps are chosen for the whole batch, so there the ranks differ from one process by
// the solver's tolerance.)
TEST(DataParallel, TwoProcessesEndWithTheParametersOfOneOnTheCombinedBatchCnf) {
  const auto [one, two] = train_in_one_and_two_processes("cnf", kCnf + " --set method=rk4 --set trace=exact");
  EXPECT_LT(parameter_distance(one, two), 1e-12);
  auto info = nlohmann::json::parse(read_file(two + "/run.json"));
  EXPECT_EQ(info["processes"], 2);
  auto metrics = read_file(two + "/metrics.jsonl");
  auto last = nlohmann::json::parse(metrics.substr(metrics.rfind('\n', metrics.size() - 2) + 1));
  EXPECT_GT(last["allreduce_time"].get<double>(), 0.0);
  // The reported loss is the mean of the ranks' losses, i.e. the combined batch's.
  auto loss_one = nlohmann::json::parse(read_file(one + "/summary.json"))["final_loss"].get<double>();
  EXPECT_NEAR(last["loss"].get<double>(), loss_one, 1e-12);
}

// The forward and the implicit backward solvers stop when every sample of the batch has converged,
// so a shard may stop earlier than the whole batch; an unreachable tolerance makes both run the
// same number of iterations, and then each sample's computation is its own. The learning rate is
// 1e-4: Adam turns a gradient's rounding difference d into a step difference of up to lr d / eps
// (eps = 1e-8) where the gradient is near zero, and the DEQ has many such weights.
TEST(DataParallel, TwoProcessesEndWithTheParametersOfOneOnTheCombinedBatchDeq) {
  const auto [one, two] = train_in_one_and_two_processes(
      "deq", " --set iterations=4 --set batch=8 --set width=16 --set dtype=float64 --set tol=1e-30"
             " --set max_iterations=15 --set eval_images=50 --set lr=1e-4");
  EXPECT_LT(parameter_distance(one, two), 1e-12);
}

TEST(DataParallel, EveryOtherModelTypeTrainsOnTwoProcesses) {
  const std::pair<std::string, std::string> cases[] = {
      {"node", " --set iterations=3 --set windows=4 --set window=5 --set hidden=8 --set rtol=1e-5 --set atol=1e-6"},
      {"ode2vae",
       " --set iterations=2 --set batch=4 --set sequences=8 --set eval_sequences=4 --set frames=6 --set latent=4"
       " --set field_hidden=8"},
  };
  for (const auto& [model, settings] : cases) {
    const auto dir = fresh_path("dp_" + model);
    auto result = run_cli("train " + model + " --nproc 2 --out " + dir + settings);
    ASSERT_EQ(result.status, 0) << model << ": " << result.err;
    EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/run.json"))["processes"], 2) << model;
    EXPECT_TRUE(fs::exists(dir + "/summary.json")) << model;
  }
}

// Each rank draws its own Hutchinson noise from (seed, iteration, rank), so a resumed run needs no
// saved random state and ends bit for bit where the uninterrupted one does.
TEST(DataParallel, AnInterruptedTwoProcessRunResumesBitForBit) {
  const std::string settings = kCnf + " --set rtol=1e-4 --set atol=1e-4 --set iterations=7";
  const auto whole = fresh_path("dp_whole"), split = fresh_path("dp_split");
  auto result = run_cli("train cnf --nproc 2 --out " + whole + settings);
  ASSERT_EQ(result.status, 0) << result.err;
  result = run_cli("train cnf --nproc 2 --out " + split + settings + " --stop-after 3");
  ASSERT_EQ(result.status, 130) << result.err;
  EXPECT_NE(result.err.find("deepdyn resume " + split + " --nproc 2"), std::string::npos) << result.err;
  // Another process count would draw other noise and shards: refused, naming the count to use.
  for (const auto* processes : {"", " --nproc 3"}) {
    result = run_cli("resume " + split + processes);
    EXPECT_EQ(result.status, 1) << processes;
    EXPECT_NE(result.err.find("was trained by 2 process(es)"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("resume it with --nproc 2"), std::string::npos) << result.err;
  }
  result = run_cli("resume " + split + " --nproc 2");
  ASSERT_EQ(result.status, 0) << result.err;
  EXPECT_EQ(parameter_distance(whole, split), 0.0);
  EXPECT_EQ(nlohmann::json::parse(read_file(whole + "/summary.json"))["final_loss"],
            nlohmann::json::parse(read_file(split + "/summary.json"))["final_loss"]);
}

TEST(DataParallel, BadLaunchesAreClearErrors) {
  const auto dir = fresh_path("dp_bad");
  auto result = run_cli("train cnf --nproc 2 --out " + dir + kCnf + " --set batch=33");
  EXPECT_NE(result.status, 0);
  EXPECT_NE(result.err.find("'batch' = 33 does not split evenly over 2 processes"), std::string::npos) << result.err;
  result = deepdyn::testing::run_command("WORLD_SIZE=2 RANK=0 " + deepdyn::testing::kCli + " train cnf --out " + dir + kCnf);
  EXPECT_NE(result.status, 0);
  EXPECT_NE(result.err.find("MASTER_ADDR, MASTER_PORT is not"), std::string::npos) << result.err;
  result = deepdyn::testing::run_command("WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 " + deepdyn::testing::kCli +
                       " train cnf --nproc 3 --out " + dir + kCnf);
  EXPECT_NE(result.err.find("--nproc 3 and WORLD_SIZE=2 disagree"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(dir));
}

TEST(DataParallel, ARankThatCannotReachTheStoreFailsNamingTheAddress) {
  const int port = deepdyn::dist::free_port();
  const auto err = fresh_path("dp_unreachable.err");
  const auto start = Clock::now();
  const pid_t pid = spawn_cli({"train", "cnf", "--out", fresh_path("dp_unreachable"), "--timeout", "2"},
                              {"RANK=1", "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)},
                              err);
  const auto status = wait_for(pid, std::chrono::seconds(30));
  if (!status) kill_and_reap(pid);
  ASSERT_TRUE(status) << "rank 1 still waiting after 30 s with a 2 s timeout";
  EXPECT_EQ(*status, 1);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 30.0);
  const auto message = read_file(err);
  EXPECT_NE(message.find("deepdyn: error: rank 1 of 2: could not reach the rendezvous store at 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << message;
}

// Rank 0 alone: it says how many ranks joined, within the timeout (LibTorch 1.13's TCPStore waits
// silently, and Gloo's connection timeout would only come after that).
TEST(DataParallel, ALoneRankZeroSaysNotEveryRankJoinedWithinTheTimeout) {
  const int port = deepdyn::dist::free_port();
  const auto dir = fresh_path("dp_alone"), err = fresh_path("dp_alone.err");
  const auto start = Clock::now();
  const pid_t pid = spawn_cli({"train", "cnf", "--out", dir, "--timeout", "3"},
                              {"RANK=0", "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)},
                              err);
  const auto status = wait_for(pid, std::chrono::seconds(30));
  if (!status) kill_and_reap(pid);
  ASSERT_TRUE(status) << "rank 0 still waiting after 30 s with a 3 s timeout";
  EXPECT_EQ(*status, 1);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 3 * 1.5);
  const auto message = read_file(err);
  EXPECT_EQ(message.rfind("deepdyn: error: rank 0 of 2: not every rank joined within 3 s: 1 of 2", 0), 0u) << message;
  EXPECT_EQ(std::count(message.begin(), message.end(), '\n'), 1) << message;  // no log lines of the store
  EXPECT_FALSE(fs::exists(dir));
}

// Ranks started the torchrun way (environment variables); rank 1 is killed mid-training.
TEST(DataParallel, WhenARankDiesTheOtherStopsWithAnErrorWithinTheTimeout) {
  const int port = deepdyn::dist::free_port();
  const auto dir = fresh_path("dp_killed"), err0 = fresh_path("dp_rank0.err"), err1 = fresh_path("dp_rank1.err");
  const std::vector<std::string> arguments = {"train", "cnf", "--out", dir, "--timeout", "20", "--set",
                                              "iterations=1000000", "--set", "batch=64", "--set", "hidden=8,8",
                                              "--set", "log_every=1"};
  auto environment = [&](int rank) {
    return std::vector<std::string>{"RANK=" + std::to_string(rank), "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
                                    "MASTER_PORT=" + std::to_string(port)};
  };
  const pid_t rank0 = spawn_cli(arguments, environment(0), err0), rank1 = spawn_cli(arguments, environment(1), err1);
  const bool training = wait_for_metrics(dir, 3, std::chrono::seconds(60));
  kill(rank1, SIGKILL);
  waitpid(rank1, nullptr, 0);
  const auto killed = Clock::now();
  const auto status = wait_for(rank0, std::chrono::seconds(20));
  if (!status) kill_and_reap(rank0);
  ASSERT_TRUE(training) << read_file(err0) << read_file(err1);
  ASSERT_TRUE(status) << "rank 0 still running 20 s after rank 1 died";
  EXPECT_EQ(*status, 1);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - killed).count(), 20.0);
  const auto message = read_file(err0);
  EXPECT_NE(message.find("deepdyn: error: rank 0 of 2: the all-reduce failed: another rank died"), std::string::npos)
      << message;
}

// Through --nproc: the launcher sees the dead rank, stops the other and says how to resume.
TEST(DataParallel, TheLauncherStopsEveryRankWhenOneDiesAndSaysHowToResume) {
  const auto dir = fresh_path("dp_launch_killed"), err = fresh_path("dp_launch.err");
  const pid_t launcher = start_endless_two_process_run(dir, err, 2);
  const bool training = wait_for_metrics(dir, 3, std::chrono::seconds(60));
  const auto rank1 = child_with_rank(launcher, 1);
  if (rank1) kill(*rank1, SIGKILL);
  const auto status = wait_for(launcher, std::chrono::seconds(30));
  if (!status) kill_and_reap(launcher);
  ASSERT_TRUE(training) << read_file(err);
  ASSERT_TRUE(rank1) << "no child with RANK=1";
  ASSERT_TRUE(status) << "the launcher still runs 30 s after rank 1 died";
  EXPECT_EQ(*status, 1);
  const auto message = read_file(err);
  EXPECT_NE(message.find("rank 1 was killed by signal 9; the other ranks were stopped; continue from the last "
                         "checkpoint with: deepdyn resume " +
                         dir + " --nproc 2"),
            std::string::npos)
      << message;
}

// kill -9 of the --nproc launcher: its ranks get SIGTERM (PR_SET_PDEATHSIG), save a checkpoint and
// stop, instead of training on as orphans, leaving a checkpoint to resume from.
TEST(DataParallel, KillingTheLauncherStopsItsRanksWithACheckpoint) {
  const auto dir = fresh_path("dp_launcher_killed"), err = fresh_path("dp_launcher_killed.err");
  const pid_t launcher = start_endless_two_process_run(dir, err, 1000);
  const bool training = wait_for_metrics(dir, 3, std::chrono::seconds(60));
  const auto rank0 = child_with_rank(launcher, 0), rank1 = child_with_rank(launcher, 1);
  kill_and_reap(launcher);
  ASSERT_TRUE(training) << read_file(err);
  ASSERT_TRUE(rank0 && rank1) << "no children with RANK=0 and RANK=1";
  // The ranks are no children of ours: /proc tells when they are gone (or zombies of their new parent).
  auto gone = [](pid_t pid) {
    const auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto after_name = stat.rfind(')');
    return after_name == std::string::npos || stat.compare(after_name, 3, ") Z") == 0;
  };
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while ((!gone(*rank0) || !gone(*rank1)) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const bool stopped = gone(*rank0) && gone(*rank1);
  if (!stopped) kill(*rank0, SIGKILL), kill(*rank1, SIGKILL);
  ASSERT_TRUE(stopped) << "the ranks still train 30 s after their launcher was killed";
  EXPECT_TRUE(fs::exists(dir + "/checkpoint.pt")) << "SIGTERM should have saved a checkpoint";
  EXPECT_FALSE(fs::exists(dir + "/summary.json"));
}
