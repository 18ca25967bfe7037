#include "training.h"

#include <deepdyn/deepdyn.h>
#include <deepdyn/io/files.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <map>
#include <sstream>

#include "figure.h"

namespace deepdyn::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

// After the last iteration only the pictures and the evaluation remain, and the checkpoint holds the
// trained model: a signal then ends the process at once, and resume does the rest.
char g_finishing_message[1024];
size_t g_finishing_length = 0;
void on_signal_while_finishing(int) {
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, g_finishing_message, g_finishing_length);
  ::_exit(130);
}

void stop_at_once_on_signals(const RunDirectory& run) {
  const int length = std::snprintf(g_finishing_message, sizeof g_finishing_message,
                                   "\ndeepdyn: interrupted after the last iteration, before the summary; the trained "
                                   "model is saved; write the pictures and evaluation with: deepdyn resume %s\n",
                                   run.path().c_str());
  g_finishing_length = std::min(size_t(std::max(length, 0)), sizeof g_finishing_message - 1);
  std::signal(SIGINT, on_signal_while_finishing);
  std::signal(SIGTERM, on_signal_while_finishing);
  if (g_interrupted) on_signal_while_finishing(SIGTERM);
}

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
  /// One line per evaluation during training: its headline number and the best iteration so far.
  void evaluated(int64_t iteration, const Json& evaluation, const std::string& headline, int64_t best) {
    if (terminal_) std::printf("\n");
    std::printf("evaluation at iteration %lld: %s %s%s\n", static_cast<long long>(iteration), headline.c_str(),
                evaluation[headline].dump().c_str(),
                best > 0 ? (" (best: iteration " + std::to_string(best) + ")").c_str() : "");
    std::fflush(stdout);
  }

 private:
  int64_t first_, last_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Writes curves.png when there are two metrics lines or more; returns whether it did.
bool write_curves(const RunDirectory& run) {
  auto metrics = run.read_metrics();
  if (metrics.size() < 2) return false;
  std::vector<double> it, loss, forward, backward;
  for (const auto& m : metrics) {
    it.push_back(m["iteration"].get<double>());
    loss.push_back(m["loss"].is_null() ? std::nan("") : m["loss"].get<double>());  // NaN is written as null
    forward.push_back(m["nfe_forward"].get<double>());
    backward.push_back(m["nfe_backward"].get<double>());
  }
  auto t = [](const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); };
  // A log axis where the loss is positive and spans a decade or more (its ticks are decades).
  double lo = INFINITY, hi = 0;
  for (double v : loss)
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  const bool logarithmic = lo > 0 && hi >= 10 * lo;
  Figure figure(1000, 400, 2, 1);
  figure.panel(0)
      .title("training loss")
      .labels("iteration", "loss")
      .log_y(logarithmic)
      .line(t(it), t(loss), {200, 50, 50});
  auto& nfe = figure.panel(1).title("function evaluations per iteration").labels("iteration", "NFE");
  nfe.line(t(it), t(forward), {50, 80, 200}, "forward");
  if (std::any_of(backward.begin(), backward.end(), [](double v) { return v > 0; }))
    nfe.line(t(it), t(backward), {230, 140, 30}, "backward");
  figure.save_png(run.file("curves.png"));
  return true;
}

}  // namespace

namespace {

std::vector<torch::Tensor> model_state(torch::nn::Module& model) {
  std::vector<torch::Tensor> state;
  for (const auto& p : model.parameters()) state.push_back(p);
  for (const auto& b : model.buffers()) state.push_back(b);
  return state;
}

std::map<std::string, std::vector<int64_t>> tensor_shapes(const torch::nn::Module& model) {
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : model.named_parameters()) shapes[p.key()] = p.value().sizes().vec();
  for (const auto& b : model.named_buffers()) shapes[b.key()] = b.value().sizes().vec();
  return shapes;
}

// Module::load takes the checkpoint's tensors whatever their shapes: a model built from an edited
// config (wider layers) would silently keep the old sizes.
void check_same_shapes(const std::map<std::string, std::vector<int64_t>>& configured,
                       const std::map<std::string, std::vector<int64_t>>& loaded, const std::string& origin) {
  for (const auto& [name, shape] : configured) {
    const auto& found = loaded.at(name);
    TORCH_CHECK(found == shape, "the checkpoint '", origin, "' holds ", name, " of shape ", c10::IntArrayRef(found),
                " where config.json makes ", c10::IntArrayRef(shape),
                ": the config was changed after the run started; restore its layer sizes, or start a new run "
                "with deepdyn train");
  }
}

/// Mean forward and backward NFE per iteration over the logged iterations, and over their second
/// half, where a flow has settled (RNODE's measure of how hard the dynamics have become).
Json nfe_means(const Json& metrics) {
  auto mean = [&](const char* key, size_t from) {
    double sum = 0;
    for (size_t i = from; i < metrics.size(); ++i) sum += metrics[i][key].get<double>();
    return metrics.size() > from ? sum / double(metrics.size() - from) : std::nan("");
  };
  const size_t half = metrics.size() / 2;
  return {{"forward", mean("nfe_forward", 0)},
          {"backward", mean("nfe_backward", 0)},
          {"forward_second_half", mean("nfe_forward", half)},
          {"backward_second_half", mean("nfe_backward", half)},
          {"logged_iterations", metrics.size()}};
}

}  // namespace

Training::Training(Task& task, Json config)
    : task_(task),
      config_(std::move(config)),
      optimizer_(task.model().parameters(), torch::optim::AdamOptions(config_["lr"].get<double>())) {}

double Training::learning_rate(int64_t iteration) const {
  const double lr = config_["lr"].get<double>();
  const auto& schedule = config_["lr_schedule"];
  if (schedule == "cosine") {  // Loshchilov & Hutter 2017 (SGDR), one cycle ending at lr_end
    const double end = config_["lr_end"].get<double>();
    const double progress = double(iteration - 1) / double(std::max<int64_t>(config_["iterations"].get<int64_t>() - 1, 1));
    return end + 0.5 * (lr - end) * (1 + std::cos(M_PI * progress));
  }
  if (schedule == "step_decay") return ode2vae::decayed_learning_rate(lr, iteration - 1);
  return lr;
}

Json Training::evaluate(int64_t iteration) {
  auto evaluation = task_.evaluate();
  if (!config_["keep_best"].get<bool>()) return evaluation;
  const auto headline = task_.headline();
  const auto& value = evaluation[headline.key];
  const double score = value.is_number() ? value.get<double>() : std::nan("");
  const bool better = best_.state.empty() || (headline.lower_is_better ? score < best_.score : score > best_.score);
  if (std::isfinite(score) && better) {
    torch::NoGradGuard no_grad;
    best_ = {iteration, score, {}};
    for (const auto& t : model_state(task_.model())) best_.state.push_back(t.detach().clone());
  }
  return evaluation;
}

void Training::save_checkpoint(const RunDirectory& run, int64_t iteration) const {
  torch::serialize::OutputArchive archive, model, optimizer;
  task_.model().save(model);
  optimizer_.save(optimizer);
  archive.write("model", model);
  archive.write("optimizer", optimizer);
  archive.write("iteration", torch::tensor(iteration));
  if (!best_.state.empty()) {
    torch::serialize::OutputArchive best;
    best.write("iteration", torch::tensor(best_.iteration));
    best.write("score", torch::tensor(best_.score, torch::kFloat64));
    for (size_t i = 0; i < best_.state.size(); ++i) best.write(std::to_string(i), best_.state[i]);
    archive.write("best", best);
  }
  std::ostringstream stream;
  archive.save_to(stream);
  const auto bytes = stream.str();
  io::write_file_atomically(run.file("checkpoint.pt"), std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

int64_t Training::restore(const std::string& checkpoint, const std::string& origin) {
  io::check_zip_checksums(checkpoint, origin);
  auto readable = [&](const auto& read) {
    try {
      read();
    } catch (const c10::Error& e) {
      TORCH_CHECK(false, "the checkpoint '", origin, "' is unreadable (damaged, or from another model or config): ",
                  e.msg().substr(0, e.msg().find('\n')));
    }
  };
  const auto configured = tensor_shapes(task_.model());
  torch::serialize::InputArchive archive, model, optimizer, best;
  readable([&] {
    archive.load_from(checkpoint.data(), checkpoint.size());
    archive.read("model", model);
    task_.model().load(model);
  });
  check_same_shapes(configured, tensor_shapes(task_.model()), origin);
  torch::Tensor iteration;
  readable([&] {
    archive.read("optimizer", optimizer);
    optimizer_.load(optimizer);
    archive.read("iteration", iteration);
    best_ = {};
    if (!archive.try_read("best", best)) return;
    torch::Tensor best_iteration, score;
    best.read("iteration", best_iteration);
    best.read("score", score);
    best_ = {best_iteration.item<int64_t>(), score.item<double>(), {}};
    for (size_t i = 0; i < model_state(task_.model()).size(); ++i) {
      torch::Tensor t;
      best.read(std::to_string(i), t);
      best_.state.push_back(t);
    }
  });
  return iteration.item<int64_t>();
}

int Training::run(const RunDirectory* run, Workers& workers, const RunInfo& info, int64_t first,
                  std::optional<int64_t> stop_after) {
  const int64_t last = config_["iterations"].get<int64_t>(), checkpoint_every = config_["checkpoint_every"].get<int64_t>(),
                log_every = config_["log_every"].get<int64_t>(), eval_every = config_["eval_every"].get<int64_t>();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Progress progress(first, last);
  const auto start = std::chrono::steady_clock::now();
  double averaging_seconds = 0;
  for (int64_t it = first; it <= last; ++it) {
    seed_iteration(info.seed, it, workers.rank());
    for (auto& group : optimizer_.param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(learning_rate(it));
    optimizer_.zero_grad();
    const auto mine = task_.gradients(it);
    workers.average_gradients();
    averaging_seconds += workers.last_average_seconds();
    optimizer_.step();
    if (stop_after && it == *stop_after) std::raise(SIGTERM);
    bool stop = g_interrupted != 0;
    const auto m = workers.agree(mine, stop);
    // Every rank evaluates its (identical) model, so every rank keeps the same best parameters.
    const Json evaluation = eval_every > 0 && (it % eval_every == 0 || it == last) ? evaluate(it) : Json();
    const bool log_line = it % log_every == 0 || it == last || !evaluation.is_null();
    const bool checkpoint = it % checkpoint_every == 0 || it == last || stop;
    if (checkpoint) workers.check_identical(task_);
    if (run == nullptr) {
      if (stop) return 130;
      continue;
    }
    if (log_line) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      Json line{{"iteration", it},           {"loss", m.loss}, {"nfe_forward", m.nfe_forward},
                {"nfe_backward", m.nfe_backward}, {"time", seconds}, {"lr", learning_rate(it)}};
      if (workers.size() > 1) line["allreduce_time"] = averaging_seconds;
      if (!evaluation.is_null()) line["evaluation"] = evaluation;
      run->append_metrics(line);
    }
    progress.update(it, m, log_line);
    if (!evaluation.is_null()) progress.evaluated(it, evaluation, task_.headline().key, best_.iteration);
    if (checkpoint) save_checkpoint(*run, it);
    if (stop) {
      std::fprintf(stderr, "deepdyn: interrupted at iteration %lld; checkpoint saved; continue with: deepdyn resume %s%s\n",
                   static_cast<long long>(it), run->path().c_str(),
                   workers.size() > 1 ? (" --nproc " + std::to_string(workers.size())).c_str() : "");
      return 130;
    }
  }
  return run == nullptr ? 0 : finish(*run);
}

int Training::finish(const RunDirectory& run) {
  stop_at_once_on_signals(run);
  Json summary{{"iterations", config_["iterations"]}};
  if (!best_.state.empty()) {
    // The run's model becomes the best evaluated one; the checkpoint keeps it for eval and sample.
    torch::NoGradGuard no_grad;
    const auto state = model_state(task_.model());
    for (size_t i = 0; i < state.size(); ++i) state[i].copy_(best_.state[i]);
    save_checkpoint(run, config_["iterations"].get<int64_t>());
    summary["kept_iteration"] = best_.iteration;
  }
  // After the last iteration: each remaining phase says what it does and how long it took.
  const auto phase = [](const char* what, const auto& work) {
    std::printf("%s ...", what);
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    auto result = work();
    std::printf(" %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return result;
  };
  const auto files = phase("writing curves.png and the model's files", [&] {
    const bool curves = write_curves(run);
    auto names = task_.write_outputs(run.path());
    if (curves) names.insert(names.begin(), "curves.png");
    return names;
  });
  const auto evaluation = phase("final evaluation", [&] { return task_.evaluate(); });
  const auto metrics = run.read_metrics();
  summary["final_loss"] = metrics.empty() ? Json() : metrics.back()["loss"];
  summary["nfe"] = nfe_means(metrics);
  summary["evaluation"] = evaluation;
  summary["files"] = files;
  run.write_json("summary.json", summary);
  // A short account for a person: the headline number, the others beside it, where the files are.
  const auto headline = task_.headline();
  std::printf("done: %s\n  %s %s (%s is better%s)\n", run.path().c_str(), headline.key.c_str(),
              evaluation[headline.key].dump().c_str(), headline.lower_is_better ? "lower" : "higher",
              best_.state.empty() ? "" : ("; the model of iteration " + std::to_string(best_.iteration)).c_str());
  std::string others;
  for (const auto& [key, value] : evaluation.items())
    if (key != headline.key) others += (others.empty() ? "" : ", ") + key + " " + value.dump();
  if (!others.empty()) std::printf("  %s\n", others.c_str());
  std::string names;
  for (const auto& name : files) names += " " + name;
  std::printf("  files:%s summary.json checkpoint.pt\n", names.c_str());
  return 0;
}

}  // namespace deepdyn::cli
