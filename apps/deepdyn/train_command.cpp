// deepdyn train / resume / eval / sample: training runs with a run directory, checkpoints that
// survive Ctrl-C and SIGTERM, and the trained model's numbers and samples afterwards.
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/image.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>

#include "commands.h"
#include "run_directory.h"

namespace deepdyn::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

// A progress bar on a terminal, plain lines otherwise.
class Progress {
 public:
  Progress(int64_t first, int64_t last) : first_(first), last_(last), terminal_(isatty(fileno(stdout))) {}
  void update(int64_t iteration, const StepMetrics& m, bool log_line) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = double(iteration - first_ + 1) / std::max(elapsed, 1e-9);
    const double eta = double(last_ - iteration) / rate;
    if (terminal_) {
      const int width = 30, filled = int(width * iteration / last_);
      std::printf("\r[%s%s] %lld/%lld loss %.4f nfe %lld/%lld %.1f it/s ETA %.0f s ", std::string(filled, '#').c_str(),
                  std::string(width - filled, ' ').c_str(), static_cast<long long>(iteration),
                  static_cast<long long>(last_), m.loss, static_cast<long long>(m.nfe_forward),
                  static_cast<long long>(m.nfe_backward), rate, eta);
      if (iteration == last_) std::printf("\n");
    } else if (log_line || iteration == last_) {
      std::printf("iteration %lld/%lld loss %.5f nfe forward %lld backward %lld %.2f it/s ETA %.0f s\n",
                  static_cast<long long>(iteration), static_cast<long long>(last_), m.loss,
                  static_cast<long long>(m.nfe_forward), static_cast<long long>(m.nfe_backward), rate, eta);
    }
    std::fflush(stdout);
  }

 private:
  int64_t first_, last_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

void write_curves(const RunDirectory& run) {
  auto metrics = run.read_metrics();
  if (metrics.size() < 2) return;
  std::vector<double> it, loss, nfe;
  for (const auto& m : metrics) {
    it.push_back(m["iteration"].get<double>());
    loss.push_back(m["loss"].get<double>());
    nfe.push_back(m["nfe_forward"].get<double>());
  }
  auto t = [](const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); };
  io::Image image(1000, 400);
  io::Plot("loss").line(t(it), t(loss), {200, 50, 50}).render(image, 10, 10, 480, 380);
  io::Plot("forward NFE per iteration").line(t(it), t(nfe), {50, 80, 200}).render(image, 510, 10, 480, 380);
  image.save_png(run.file("curves.png"));
}

// Iterations first..last of a run whose task holds the state of iteration first - 1.
int train_loop(const RunDirectory& run, Task& task, const Json& config, int64_t first,
               std::optional<int64_t> stop_after) {
  const int64_t last = config["iterations"].get<int64_t>(), checkpoint_every = config["checkpoint_every"].get<int64_t>(),
                log_every = config["log_every"].get<int64_t>();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Progress progress(first, last);
  const auto start = std::chrono::steady_clock::now();
  for (int64_t it = first; it <= last; ++it) {
    const auto m = task.step(it);
    const bool log_line = it % log_every == 0 || it == last;
    if (log_line) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      run.append_metrics(Json{{"iteration", it}, {"loss", m.loss}, {"nfe_forward", m.nfe_forward},
                              {"nfe_backward", m.nfe_backward}, {"time", seconds}});
    }
    progress.update(it, m, log_line);
    if (stop_after && it == *stop_after) std::raise(SIGTERM);
    if (it % checkpoint_every == 0 || it == last || g_interrupted) run.save_checkpoint(task, it);
    if (g_interrupted) {
      std::fprintf(stderr, "deepdyn: interrupted at iteration %lld; checkpoint saved; continue with: deepdyn resume %s\n",
                   static_cast<long long>(it), run.path().c_str());
      return 130;
    }
  }
  write_curves(run);
  auto pictures = task.write_pictures(run.path());
  auto evaluation = task.evaluate();
  const auto metrics = run.read_metrics();
  run.write_json("summary.json", Json{{"iterations", last},
                                      {"final_loss", metrics.empty() ? Json() : metrics.back()["loss"]},
                                      {"evaluation", evaluation},
                                      {"pictures", pictures}});
  std::printf("done: %s\n%s\n", run.path().c_str(), evaluation.dump().c_str());
  return 0;
}

std::string default_run_path(const std::string& model) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + model + "-" + stamp;
}

struct TrainArguments {
  std::string model, config_file, out;
  std::vector<std::string> overrides;
  std::optional<int64_t> stop_after;
};

int run_train(const TrainArguments& args, const GlobalOptions& global) {
  const auto device = apply(global);
  // Everything is checked before the run directory exists.
  const auto config = resolve_config(task_schema(args.model), args.config_file, args.overrides);
  auto task = make_task(args.model, config, global.seed, device);
  const auto path = args.out.empty() ? default_run_path(args.model) : args.out;
  auto run = RunDirectory::create(path, {args.model, global.seed, global.threads, global.device}, config);
  std::printf("deepdyn train %s -> %s\n", args.model.c_str(), run.path().c_str());
  return train_loop(run, *task, config, 1, args.stop_after);
}

int run_resume(const std::string& path, const GlobalOptions& global) {
  auto run = RunDirectory::open(path);
  TORCH_CHECK(!run.complete(), "'", path, "' is complete (it has summary.json): nothing to resume");
  const auto info = run.info();
  const auto config = run.config();
  check_config(task_schema(info.model), config);
  GlobalOptions recorded{global.threads, info.seed, info.device};
  const auto device = apply(recorded);
  auto task = make_task(info.model, config, info.seed, device);
  const int64_t done = run.load_checkpoint(*task);
  run.truncate_metrics(done);
  std::printf("deepdyn resume %s at iteration %lld\n", path.c_str(), static_cast<long long>(done + 1));
  return train_loop(run, *task, config, done + 1, std::nullopt);
}

// The trained model of a run directory, restored from its checkpoint.
std::unique_ptr<Task> load_trained(const RunDirectory& run, const GlobalOptions& global) {
  const auto info = run.info();
  const auto config = run.config();
  check_config(task_schema(info.model), config);
  GlobalOptions recorded{global.threads, info.seed, info.device};
  auto task = make_task(info.model, config, info.seed, apply(recorded));
  run.load_checkpoint(*task);
  return task;
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
    cmd->callback([args, &global, &action] { action = [args, &global] { return run_train(*args, global); }; });
  }
  auto path = std::make_shared<std::string>();
  auto resume = app.add_subcommand("resume", "Continue an interrupted run from its last checkpoint");
  resume->add_option("run_dir", *path, "run directory")->required();
  resume->callback([path, &global, &action] { action = [path, &global] { return run_resume(*path, global); }; });

  auto eval_path = std::make_shared<std::string>();
  auto eval = app.add_subcommand("eval", "Evaluate the trained model of a run directory; writes eval.json");
  eval->add_option("run_dir", *eval_path, "run directory")->required();
  eval->callback([eval_path, &global, &action] {
    action = [eval_path, &global] {
      auto run = RunDirectory::open(*eval_path);
      auto result = load_trained(run, global)->evaluate();
      run.write_json("eval.json", result);
      std::printf("%s\n", result.dump(2).c_str());
      return 0;
    };
  });

  struct SampleArguments {
    std::string run_dir, out;
    int64_t n = 1000;
  };
  auto sargs = std::make_shared<SampleArguments>();
  auto sample = app.add_subcommand("sample", "Draw samples from the trained model of a run directory");
  sample->add_option("run_dir", sargs->run_dir, "run directory")->required();
  sample->add_option("--n", sargs->n, "number of samples")->capture_default_str();
  sample->add_option("--out", sargs->out, "output file: .csv or .pt (torch.load)")->required();
  sample->callback([sargs, &global, &action] {
    action = [sargs, &global] {
      TORCH_CHECK(sargs->n >= 1, "--n must be >= 1, got ", sargs->n);
      auto run = RunDirectory::open(sargs->run_dir);
      torch::NoGradGuard no_grad;
      auto samples = load_trained(run, global)->sample(sargs->n).to(torch::kCPU, torch::kFloat64);
      auto rows = samples.reshape({samples.size(0), -1});
      std::vector<std::string> header;
      for (int64_t j = 0; j < rows.size(1); ++j) header.push_back("x" + std::to_string(j));
      write_table(sargs->out, rows, header);
      std::printf("%lld samples -> %s\n", static_cast<long long>(sargs->n), sargs->out.c_str());
      return 0;
    };
  });
}

}  // namespace deepdyn::cli
