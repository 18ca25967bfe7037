// deepdyn train / resume / eval / sample: training runs with a run directory, checkpoints that
// survive Ctrl-C and SIGTERM, and the trained model's numbers and samples afterwards.
#include <deepdyn/deepdyn.h>
#include <deepdyn/dist/launch.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <functional>

#include "commands.h"
#include "parallel.h"
#include "run_directory.h"
#include "training.h"

namespace deepdyn::cli {
namespace {

// A run that fails says what its directory kept and how to go on from there.
int with_next_steps(const RunDirectory& run, const std::function<int()>& train) {
  const auto next_steps = [&] {
    return run.has_checkpoint() ? "; the run's last checkpoint is kept: fix the cause, then continue with deepdyn resume " +
                                      run.path()
                                : "; the run stopped before its first checkpoint: fix the cause, then start it again with "
                                  "deepdyn train --out " + run.path() + " (or deepdyn resume " + run.path() +
                                      " to run its config.json again)";
  };
  try {
    return train();
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, e.what_without_backtrace(), next_steps());
  } catch (const std::exception& e) {
    TORCH_CHECK(false, e.what(), next_steps());
  }
}

std::string default_run_path(const std::string& model) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + model + "-" + stamp;
}

// How a train or resume command spreads over processes.
struct ParallelArguments {
  int64_t nproc = 1;
  double timeout = 300;  // seconds
  std::chrono::milliseconds timeout_ms() const {
    TORCH_CHECK(timeout > 0, "--timeout must be > 0 seconds, got ", timeout);
    return std::chrono::milliseconds(int64_t(timeout * 1000));
  }
  // --nproc N > 1 in a process that no launcher started: this process becomes the launcher.
  bool launches() const {
    TORCH_CHECK(nproc >= 1, "--nproc must be >= 1, got ", nproc);
    return nproc > 1 && std::getenv("WORLD_SIZE") == nullptr;
  }
  void add_to(CLI::App* command) {
    command->add_option("--nproc", nproc, "data-parallel processes on this machine (each gets a shard of every batch)")
        ->capture_default_str();
    command->add_option("--timeout", timeout, "seconds to wait for the other processes before failing")
        ->capture_default_str();
  }
};

// Runs this command line again in `nproc` processes (with RANK, WORLD_SIZE, ... set) and waits.
int launch(const GlobalOptions& global, std::vector<std::string> extra, const ParallelArguments& parallel,
           const std::string& run_path) {
  auto command = global.command_line;
  command[0] = dist::self_executable();
  command.insert(command.end(), extra.begin(), extra.end());
  const auto result = dist::launch_local(command, parallel.nproc, parallel.timeout_ms());
  if (result.status == 0 || result.status == 130) return result.status;
  const bool resumable = std::filesystem::exists(run_path + "/checkpoint.pt");
  TORCH_CHECK(false, result.reason, "; the other ranks were stopped",
              resumable ? "; continue from the last checkpoint with: deepdyn resume " + run_path + " --nproc " +
                              std::to_string(parallel.nproc)
                        : std::string());
}

struct TrainArguments {
  std::string model, config_file, out;
  std::vector<std::string> overrides;
  std::optional<int64_t> stop_after;
  ParallelArguments parallel;
};

int run_train(const TrainArguments& args, const GlobalOptions& global) {
  // Everything is checked before the run directory exists.
  const auto config = resolve_config(task_schema(args.model), args.config_file, args.overrides);
  const auto path = args.out.empty() ? default_run_path(args.model) : args.out;
  if (args.parallel.launches())  // every rank must write to one directory, so the launcher names it
    return launch(global, args.out.empty() ? std::vector<std::string>{"--out", path} : std::vector<std::string>{},
                  args.parallel, path);
  auto workers = Workers::join(args.parallel.nproc, args.parallel.timeout_ms());
  const auto device = workers.device(apply(global));
  auto task = make_task(args.model, config, global.seed, device, workers.shard());
  workers.start(*task);
  Training training(*task, config);
  const RunInfo info{args.model, global.seed, global.threads, global.device, workers.size()};
  if (!workers.leader()) return training.run(nullptr, workers, info, 1, args.stop_after);
  const bool replaces = RunDirectory::holds_run_without_checkpoint(path);
  auto run = RunDirectory::create(path, info, config);
  std::printf("deepdyn train %s -> %s%s%s\n", args.model.c_str(), run.path().c_str(),
              workers.size() > 1 ? (" (" + std::to_string(workers.size()) + " processes)").c_str() : "",
              replaces ? " (replacing the run there, which stopped before its first checkpoint)" : "");
  return with_next_steps(run, [&] { return training.run(&run, workers, info, 1, args.stop_after); });
}

// A run's task and training restored from its checkpoint bytes, and the checkpoint's iteration.
struct Restored {
  std::unique_ptr<Task> task;
  std::unique_ptr<Training> training;  // of *task
  int64_t iteration = 0;
};

// No checkpoint (empty bytes): the task as the config makes it, before its first iteration.
Restored restore(const RunInfo& info, const Json& config, const std::string& checkpoint, const std::string& origin,
                 const GlobalOptions& global, const Workers& workers) {
  check_config(task_schema(info.model), config);
  GlobalOptions recorded{global.threads, info.seed, info.device, {}};
  auto task = make_task(info.model, config, info.seed, workers.device(apply(recorded)), workers.shard());
  auto training = std::make_unique<Training>(*task, config);
  const int64_t iteration = checkpoint.empty() ? 0 : training->restore(checkpoint, origin);
  return {std::move(task), std::move(training), iteration};
}

// The trained model of a run directory, in this one process; an unfinished run's says where it stopped.
Restored load_trained(const RunDirectory& run, const GlobalOptions& global) {
  const auto config = run.config();
  auto restored = restore(run.info(), config, run.read_checkpoint(), run.file("checkpoint.pt"), global, Workers());
  if (!run.complete())
    std::fprintf(stderr, "deepdyn: '%s' is unfinished: using its checkpoint of iteration %lld of %lld\n",
                 run.path().c_str(), static_cast<long long>(restored.iteration),
                 static_cast<long long>(config["iterations"].get<int64_t>()));
  return restored;
}

// Data-parallel ranks draw their own noise and batch shards: another process count would go on
// with another computation than the one the run started.
void check_process_count(const RunInfo& recorded, int64_t processes, const std::string& path) {
  TORCH_CHECK(recorded.processes == processes, "'", path, "' was trained by ", recorded.processes,
              " process(es) and would continue with ", processes, ", which changes what each draws and the result; ",
              "resume it with ", recorded.processes == 1 ? std::string("one process (no --nproc)")
                                                          : "--nproc " + std::to_string(recorded.processes));
}

RunDirectory open_unfinished(const std::string& path) {
  auto run = RunDirectory::open(path);
  TORCH_CHECK(!run.complete(), "'", path, "' is complete (it has summary.json): nothing to resume");
  return run;
}

struct ResumeArguments {
  std::string path;
  ParallelArguments parallel;
};

int run_resume(const ResumeArguments& args, const GlobalOptions& global) {
  if (args.parallel.launches()) {
    check_process_count(open_unfinished(args.path).info(), args.parallel.nproc, args.path);
    return launch(global, {}, args.parallel, args.path);
  }
  auto workers = Workers::join(args.parallel.nproc, args.parallel.timeout_ms());
  // Rank 0 reads the run directory; the other ranks get its files through the process group,
  // so they need no copy of it (on other machines).
  std::string header, checkpoint;
  std::optional<RunDirectory> run;
  if (workers.leader()) {
    run = open_unfinished(args.path);
    run->lock_for_writing();
    const auto info = run->info();
    header = Json{{"model", info.model},   {"seed", info.seed},           {"device", info.device},
                  {"config", run->config()}, {"processes", info.processes}}
                 .dump();
    if (run->has_checkpoint()) checkpoint = run->read_checkpoint();
  }
  workers.share(header);
  workers.share(checkpoint);
  const auto shared = Json::parse(header);
  const RunInfo info{shared["model"], shared["seed"], global.threads, shared["device"], shared["processes"]};
  check_process_count(info, workers.size(), args.path);
  auto restored = restore(info, shared["config"], checkpoint, args.path + "/checkpoint.pt", global, workers);
  workers.start(*restored.task);
  auto& training = *restored.training;
  if (!run) return training.run(nullptr, workers, info, restored.iteration + 1, std::nullopt);
  run->truncate_metrics(restored.iteration);
  std::printf("deepdyn resume %s at iteration %lld%s\n", args.path.c_str(),
              static_cast<long long>(restored.iteration + 1),
              checkpoint.empty() ? " (it stopped before its first checkpoint: starting it from its config)" : "");
  return with_next_steps(
      *run, [&] { return training.run(&*run, workers, info, restored.iteration + 1, std::nullopt); });
}

}  // namespace

void add_train_commands(CLI::App& app, const GlobalOptions& global, std::function<int()>& action) {
  auto train = app.add_subcommand("train", "Train a model; writes a run directory (config, metrics, checkpoints, pictures)");
  train->require_subcommand(1);
  for (const auto& name : task_names()) {
    auto args = std::make_shared<TrainArguments>();
    args->model = name;
    auto* cmd = train->add_subcommand(name, "Train a " + name + " model. Config keys (default):\n" +
                                                describe(task_schema(name)));
    cmd->add_option("--config", args->config_file, "JSON file of config keys");
    cmd->add_option("--set", args->overrides, "key=value overrides (repeatable), applied after --config");
    cmd->add_option("--out", args->out, "run directory (default: runs/" + name + "-<date>-<time>)");
    cmd->add_option("--stop-after", args->stop_after, "act as if SIGTERM arrived after this iteration (tests resume)");
    args->parallel.add_to(cmd);
    cmd->callback([args, &global, &action] { action = [args, &global] { return run_train(*args, global); }; });
  }
  auto resume_args = std::make_shared<ResumeArguments>();
  auto resume = app.add_subcommand("resume", "Continue an interrupted run from its last checkpoint");
  resume->add_option("run_dir", resume_args->path, "run directory")->required();
  resume_args->parallel.add_to(resume);
  resume->callback([resume_args, &global, &action] {
    action = [resume_args, &global] { return run_resume(*resume_args, global); };
  });

  auto eval_path = std::make_shared<std::string>();
  auto eval = app.add_subcommand("eval", "Evaluate the trained model of a run directory; writes eval.json");
  eval->add_option("run_dir", *eval_path, "run directory")->required();
  eval->callback([eval_path, &global, &action] {
    action = [eval_path, &global] {
      auto run = RunDirectory::open(*eval_path);
      auto result = load_trained(run, global).task->evaluate();
      run.write_json("eval.json", result);
      std::printf("%s\n", result.dump(2).c_str());
      return 0;
    };
  });

  struct SampleArguments {
    std::string run_dir, out, y0, t;
    SampleRequest request;
  };
  auto sargs = std::make_shared<SampleArguments>();
  auto sample = app.add_subcommand("sample", "Draw samples from the trained model of a run directory (node: its "
                                             "trajectories from the data's first observations, or from --y0 to --t)");
  sample->add_option("run_dir", sargs->run_dir, "run directory")->required();
  sample->add_option("--n", sargs->request.n, "number of samples (node: times per trajectory)")->capture_default_str();
  sample->add_option("--y0", sargs->y0, "node: the state to start from, comma-separated (e.g. 1.5,0)");
  sample->add_option("--t", sargs->t, "node: times for --y0, comma-separated or start:stop:count");
  sample->add_option("--out", sargs->out, "output file: .csv or .pt (torch.load)")->required();
  sample->callback([sargs, &global, &action] {
    action = [sargs, &global] {
      auto request = sargs->request;
      TORCH_CHECK(request.n >= 1, "--n must be >= 1, got ", request.n);
      if (!sargs->y0.empty()) request.y0 = parse_numbers(sargs->y0, "--y0");
      if (!sargs->t.empty()) request.t = parse_times(sargs->t);
      auto run = RunDirectory::open(sargs->run_dir);
      torch::NoGradGuard no_grad;
      const auto table = load_trained(run, global).task->sample(request);
      write_table(sargs->out, table.rows, table.header);
      std::printf("%lld rows -> %s\n", static_cast<long long>(table.rows.size(0)), sargs->out.c_str());
      return 0;
    };
  });
}

}  // namespace deepdyn::cli
