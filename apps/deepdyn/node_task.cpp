// deepdyn train node: a Neural ODE dy/dt = f(t, y) fitted to measured trajectories, either the
// built-in spiral of torchdiffeq's ode_demo (data/spiral.h: 1000 points on [0, 25]) or a file of
// one's own (data/trajectories.h: CSV, .npy or .pt, irregular times, several trajectories). The
// field is an MLP chosen by the config (ode::MLPField) or one's own TorchScript module; the run
// exports the trained field as TorchScript (field.pt).
//
// Training fits random windows of `window` consecutive observations of the training data (L1
// loss), all windows of an iteration in one batched solve. Evaluation integrates each evaluated
// trajectory from its first observation and measures the error on its held-out observations:
// the last fraction of every trajectory (holdout_by=time, a forecast) or whole trajectories set
// aside (holdout_by=trajectory).
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/arrays.h>
#include <deepdyn/io/files.h>
#include <deepdyn/ode/script_field.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "figure.h"
#include "task.h"

namespace deepdyn::cli {
namespace {

constexpr int64_t kSpiralPoints = 1000;
constexpr double kSpiralEnd = 25.0;

std::vector<data::Trajectory> load_trajectories(const std::string& name) {
  if (name == "spiral") {
    auto t = torch::linspace(0, kSpiralEnd, kSpiralPoints, torch::kFloat64);
    return {{"spiral", t, data::spiral_trajectory(t).squeeze(1)}};
  }
  TORCH_CHECK(io::has_extension(name, ".csv") || io::has_extension(name, ".npy") || io::has_extension(name, ".pt"),
              "config key 'data' must be spiral or a trajectories file ending in .csv, .npy or .pt, got '", name, "'");
  return data::read_trajectories(name);
}

/// Which observations of each trajectory train the model ([0, train_end)) and which evaluate it
/// ([eval_begin, n), after integrating from observation 0).
struct Split {
  std::vector<int64_t> train_end, eval_begin;

  static Split of(const std::vector<data::Trajectory>& trajectories, double holdout, const std::string& by) {
    Split split;
    const auto count = static_cast<int64_t>(trajectories.size());
    if (by == "trajectory" && holdout > 0) {
      const auto held_out = std::max<int64_t>(1, std::llround(holdout * double(count)));
      TORCH_CHECK(held_out < count, "holdout_by=trajectory sets aside ", held_out, " of the data's ", count,
                  " trajectories, leaving none to train on: lower holdout or use holdout_by=time");
      std::vector<bool> evaluated(count, false);
      const auto held = fixed_split(count, held_out).second;
      for (int64_t i = 0; i < held_out; ++i) evaluated[held[i].item<int64_t>()] = true;
      for (int64_t k = 0; k < count; ++k) {
        const auto n = trajectories[k].t.size(0);
        split.train_end.push_back(evaluated[k] ? 0 : n);
        split.eval_begin.push_back(evaluated[k] ? 1 : n);
      }
      return split;
    }
    for (const auto& trajectory : trajectories) {
      const auto n = trajectory.t.size(0);
      // holdout 0: the model is evaluated on what it trained on (all but the given first point)
      const auto held_out = holdout > 0 ? std::max<int64_t>(1, std::llround(holdout * double(n))) : 0;
      TORCH_CHECK(n - held_out >= 2, "trajectory '", trajectory.id, "' has ", n, " observations: holding out ",
                  held_out, " leaves fewer than 2 to train on; lower holdout or use holdout_by=trajectory");
      split.train_end.push_back(n - held_out);
      split.eval_begin.push_back(held_out > 0 ? n - held_out : 1);
    }
    return split;
  }
};

/// Rows that start at their own times, integrated in one batched solve: row r starts at y0[r] at
/// its first time and is wanted at all of its times. Each row runs on its own clock
/// s = t - t_start[r]; the solve covers the union of the rows' s grids, and the field sees each
/// row's own time s + t_start[r].
struct Clock {
  torch::Tensor s;        ///< [U] the union of the rows' relative times, increasing, from 0
  torch::Tensor start;    ///< [B, 1] each row's first time
  torch::Tensor at, row;  ///< [sum n_r]: observation i of the flattened rows is ys[at[i], row[i]]

  /// `times`: each row's increasing times (1-D float64 CPU tensors).
  static Clock of(const std::vector<torch::Tensor>& times) {
    struct Entry {
      double s;
      int64_t flat;
    };
    std::vector<Entry> entries;
    std::vector<double> starts;
    std::vector<int64_t> rows;
    Clock clock;
    double span = 0;
    for (size_t r = 0; r < times.size(); ++r) {
      const auto t = times[r].contiguous();
      const double* values = t.data_ptr<double>();
      starts.push_back(values[0]);
      for (int64_t j = 0; j < t.size(0); ++j) {
        entries.push_back({values[j] - values[0], int64_t(entries.size())});
        rows.push_back(int64_t(r));
      }
      span = std::max(span, values[t.size(0) - 1] - values[0]);
    }
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.s < b.s; });
    // Equal grids shifted in time differ in the last bits of t - t_start: merge what rounding split.
    const double tolerance = 1e-10 * span;
    std::vector<double> union_s;
    std::vector<int64_t> at(entries.size());
    for (const auto& e : entries) {
      if (union_s.empty() || e.s - union_s.back() > tolerance) union_s.push_back(e.s);
      at[e.flat] = int64_t(union_s.size()) - 1;
    }
    clock.s = torch::tensor(union_s, torch::kFloat64);
    clock.start = torch::tensor(starts, torch::kFloat64).unsqueeze(1);
    clock.at = torch::tensor(at, torch::kLong);
    clock.row = torch::tensor(rows, torch::kLong);
    return clock;
  }
};

/// f(t, y) of the config: an MLPField or a TorchScript module, and its parameters as one
/// nn::Module (the same tensors) for the optimizer, checkpoints and keep_best.
class NodeField {
 public:
  NodeField(const Json& c, int64_t dim, bool spiral, const std::vector<data::Trajectory>& training,
            const Setup& setup) {
    const auto path = c["field"].get<std::string>();
    if (path != "mlp") {
      script_.emplace(path);
      script_->module().to(setup.device, setup.dtype);
      for (const auto& [name, p] : script_->named_parameters()) {
        auto key = name;
        std::replace(key.begin(), key.end(), '.', '_');
        parameters_->register_parameter(key, p);
      }
      TORCH_CHECK(!parameters_->parameters().empty(), "the TorchScript field '", path, "' has no parameters to train");
      return;
    }
    auto input = c["input"].get<std::string>();
    if (input == "auto") input = spiral ? "cube" : "standardized";
    mlp_ = ode::MLPField(ode::MLPFieldOptions(dim)
                             .hidden(c["hidden"].get<std::vector<int64_t>>())
                             .activation(core::parse_activation(c["activation"].get<std::string>()))
                             .time_input(c["time_input"].get<bool>())
                             .cube_input(input == "cube" || input == "standardized_cube"));
    if (input == "standardized" || input == "standardized_cube") {
      std::vector<torch::Tensor> states;
      for (const auto& trajectory : training) states.push_back(trajectory.y);
      mlp_->standardize(torch::cat(states));
    }
    mlp_->to(setup.device, setup.dtype);
  }

  torch::Tensor operator()(const torch::Tensor& t, const torch::Tensor& y) {
    return script_ ? (*script_)(t, y) : mlp_->forward(t, y);
  }
  bool uses_time() const { return script_ || mlp_->options().time_input(); }
  /// The MLP's own vector-Jacobian product (gradients without a graph per evaluation: ode::solve's
  /// tapeless Direct sweep and Adjoint); a TorchScript field has none.
  bool has_vjp() const { return !script_; }
  ode::FieldVJPResult vjp(const torch::Tensor& t, const torch::Tensor& y, const torch::Tensor& v,
                          const std::vector<torch::Tensor>& param_grads, bool with_value) {
    return mlp_->vjp(t, y, v, param_grads, with_value);
  }
  torch::nn::Module& module() { return script_ ? *parameters_ : static_cast<torch::nn::Module&>(*mlp_); }
  std::vector<torch::Tensor> parameters() { return module().parameters(); }

  /// The trained field as TorchScript, forward(t, y) as it was trained.
  void save(const std::string& path) {
    std::ostringstream bytes;
    if (script_)
      script_->module().save(bytes);
    else
      ode::to_script(*mlp_).save(bytes);
    const auto text = bytes.str();
    io::write_file_atomically(path, std::vector<uint8_t>(text.begin(), text.end()));
  }

 private:
  ode::MLPField mlp_{nullptr};
  std::optional<ode::ScriptField> script_;
  std::shared_ptr<torch::nn::Module> parameters_ = std::make_shared<torch::nn::Module>();
};

class NODETask : public Task {
 public:
  NODETask(const Json& c, const Setup& setup)
      : setup_(setup),
        data_name_(c["data"].get<std::string>()),
        trajectories_(load_trajectories(data_name_)),
        split_(Split::of(trajectories_, c["holdout"].get<double>(), c["holdout_by"].get<std::string>())),
        windows_(c["windows"].get<int64_t>()),
        window_(c["window"].get<int64_t>()),
        field_(c, trajectories_[0].y.size(1), data_name_ == "spiral", training_parts(), setup) {
    for (size_t k = 0; k < trajectories_.size(); ++k) {
      const auto train_end = split_.train_end[k];
      TORCH_CHECK(train_end == 0 || train_end >= window_, "trajectory '", trajectories_[k].id, "' has ", train_end,
                  " training observations, fewer than window = ", window_, ": lower window or holdout");
      for (int64_t i = 0; train_end > 0 && i + window_ <= train_end; ++i) window_starts_.push_back({int64_t(k), i});
    }
    solver_ = solve_options_of(c).params(field_.parameters());
    setup_.shard.check(windows_, "windows");
  }

  StepMetrics gradients(int64_t iteration) override {
    auto generator = iteration_generator(setup_.seed, iteration);
    const auto picks =
        setup_.shard.of(torch::randint(int64_t(window_starts_.size()), {windows_}, generator, torch::kLong))
            .contiguous();
    std::vector<torch::Tensor> times, states, starts;
    for (const int64_t pick : c10::ArrayRef<int64_t>(picks.data_ptr<int64_t>(), picks.numel())) {
      const auto [k, start] = window_starts_[pick];
      times.push_back(trajectories_[k].t.narrow(0, start, window_));
      states.push_back(trajectories_[k].y.narrow(0, start, window_));
      starts.push_back(trajectories_[k].y[start]);
    }
    const auto target = torch::cat(states).to(setup_.options());
    auto integration = integrate(times, torch::stack(starts), solver_);
    auto loss = (integration.first - target).abs().mean();
    loss.backward();
    return {loss.item<double>(), integration.second->nfe, integration.second->nfe_backward};
  }

  Json evaluate() override {
    const auto evaluated = evaluated_trajectories(trajectories_.size());
    const auto predicted = predict(evaluated);
    std::vector<torch::Tensor> errors;
    for (size_t i = 0; i < evaluated.size(); ++i) {
      const auto k = evaluated[i];
      const auto begin = split_.eval_begin[k], n = trajectories_[k].t.size(0);
      errors.push_back(predicted[i].narrow(0, begin, n - begin) - trajectories_[k].y.narrow(0, begin, n - begin));
    }
    const auto error = torch::cat(errors);
    return {{"mae", error.abs().mean().item<double>()},
            {"rmse", error.square().mean().sqrt().item<double>()},
            {"points", error.size(0)},
            {"trajectories", int64_t(evaluated.size())}};
  }
  Headline headline() const override { return {"mae", true}; }

  /// From a given state: the learned trajectory at request.t. Otherwise every trajectory of the
  /// data from its first observation, at n equally spaced times over its observed span.
  Table sample(const SampleRequest& request) override {
    const auto dim = trajectories_[0].y.size(1);
    std::vector<std::string> header = {"trajectory", "t"};
    for (int64_t j = 1; j <= dim; ++j) header.push_back("y" + std::to_string(j));
    std::vector<torch::Tensor> times, starts;
    if (request.y0) {
      TORCH_CHECK(request.t, "--y0 needs --t, the times to integrate to (e.g. --t 0:10:101)");
      TORCH_CHECK(request.y0->numel() == dim, "--y0 has ", request.y0->numel(), " numbers; this run's state has ", dim);
      TORCH_CHECK(request.t->size(0) >= 2 && (request.t->diff() > 0).all().item<bool>(),
                  "--t must be two or more increasing times");
      times.push_back(*request.t);
      starts.push_back(request.y0->view({dim}));
    } else {
      TORCH_CHECK(!request.t,
                  "--t needs --y0, the state to start from; without both, node samples integrate every "
                  "trajectory of the data from its first observation");
      TORCH_CHECK(request.n >= 2, "node samples are trajectories: --n must be >= 2 times, got ", request.n);
      for (int64_t k = 0; k < int64_t(trajectories_.size()); ++k) {
        times.push_back(span(k, request.n));
        starts.push_back(trajectories_[k].y[0]);
      }
    }
    const auto states = learned(times, starts);
    std::vector<torch::Tensor> rows;
    for (size_t r = 0; r < times.size(); ++r) {
      const auto n = times[r].size(0);
      rows.push_back(
          torch::cat({torch::full({n, 1}, double(r), torch::kFloat64), times[r].unsqueeze(1), states[r]}, 1));
    }
    return {torch::cat(rows), header};
  }

  std::vector<std::string> write_outputs(const std::string& directory) override {
    field_.save(directory + "/field.pt");
    save_trajectory_picture(directory + "/trajectory.png");
    return {"field.pt", "trajectory.png"};
  }

  torch::nn::Module& model() override { return field_.module(); }

 private:
  std::vector<data::Trajectory> training_parts() const {
    std::vector<data::Trajectory> parts;
    for (size_t k = 0; k < trajectories_.size(); ++k)
      if (split_.train_end[k] > 0)
        parts.push_back({trajectories_[k].id, trajectories_[k].t.narrow(0, 0, split_.train_end[k]),
                         trajectories_[k].y.narrow(0, 0, split_.train_end[k])});
    return parts;
  }

  /// The first `limit` trajectories that have held-out observations.
  std::vector<int64_t> evaluated_trajectories(size_t limit) const {
    std::vector<int64_t> out;
    for (size_t k = 0; k < trajectories_.size() && out.size() < limit; ++k)
      if (split_.eval_begin[k] < trajectories_[k].t.size(0)) out.push_back(int64_t(k));
    return out;
  }

  ode::SolveOptions inference_options() const { return ode::SolveOptions(solver_).gradient(ode::Direct{}); }

  /// Row r of y0 [B, d] integrated over times[r] in one solve: the states at all rows' times,
  /// flattened row after row [sum n_r, d], and the solve's stats.
  std::pair<torch::Tensor, std::shared_ptr<core::Stats>> integrate(const std::vector<torch::Tensor>& times,
                                                                   const torch::Tensor& y0,
                                                                   const ode::SolveOptions& options) {
    const auto clock = Clock::of(times);
    const auto start = clock.start.to(setup_.options());
    ode::Field field = [this, start](const torch::Tensor& s, const torch::Tensor& y) {
      return field_.uses_time() ? field_(s + start, y) : field_(s, y);
    };
    auto with_vjp = options;
    if (field_.has_vjp() && !options.vjp()) {
      with_vjp.vjp([this, start](const torch::Tensor& s, const torch::Tensor& y, const torch::Tensor& v,
                                 const std::vector<torch::Tensor>& param_grads, bool with_value) {
        if (!field_.uses_time()) return field_.vjp(s, y, v, param_grads, with_value);
        auto r = field_.vjp(s + start, y, v, param_grads, with_value);
        r.t = r.t.sum();  // every row's time moves with s
        return r;
      });
    }
    auto solution = ode::solve(field, y0.to(setup_.options()), clock.s.to(setup_.options()), with_vjp);
    return {solution.ys.index({clock.at.to(setup_.device), clock.row.to(setup_.device)}), solution.stats};
  }

  /// Each state of `starts` [d] integrated over its `times`, without gradients, in one solve:
  /// [n_r, d] float64 on the CPU each.
  std::vector<torch::Tensor> learned(const std::vector<torch::Tensor>& times,
                                     const std::vector<torch::Tensor>& starts) {
    torch::NoGradGuard no_grad;
    const auto flat = integrate(times, torch::stack(starts), inference_options()).first.to(torch::kFloat64).cpu();
    std::vector<torch::Tensor> out;
    int64_t offset = 0;
    for (const auto& t : times) {
      out.push_back(flat.narrow(0, offset, t.size(0)));
      offset += t.size(0);
    }
    return out;
  }

  /// The trajectories `which` integrated from their first observations to all their times.
  std::vector<torch::Tensor> predict(const std::vector<int64_t>& which) {
    std::vector<torch::Tensor> times, starts;
    for (auto k : which) {
      times.push_back(trajectories_[k].t);
      starts.push_back(trajectories_[k].y[0]);
    }
    return learned(times, starts);
  }

  /// n equally spaced times over trajectory k's observations.
  torch::Tensor span(int64_t k, int64_t n) const {
    const auto& t = trajectories_[k].t;
    return torch::linspace(t[0].item<double>(), t[-1].item<double>(), n, torch::kFloat64);
  }

  /// Up to four evaluated trajectories, observed (dots) and learned from their first observation
  /// (lines): the first one's components over time and, for d >= 2, all of them in the (y1, y2) plane.
  void save_trajectory_picture(const std::string& path) {
    const auto shown = evaluated_trajectories(4);
    std::vector<torch::Tensor> times, starts;
    for (auto k : shown) {
      times.push_back(span(k, 400));
      starts.push_back(trajectories_[k].y[0]);
    }
    const auto curves = learned(times, starts);
    const Rgb colours[] = {{40, 80, 220}, {220, 60, 40}, {40, 160, 60}, {150, 60, 180}};
    const auto dim = trajectories_[0].y.size(1);
    Figure figure(dim >= 2 ? 1200 : 600, 500, dim >= 2 ? 2 : 1, 1);
    const auto& first = trajectories_[shown[0]];
    const auto from = split_.eval_begin[shown[0]];
    auto& over_time = figure.panel(0)
                          .title("trajectory '" + first.id + "'" +
                                 (from > 1 ? " (held out from t = " + format(first.t[from].item<double>()) + ")" : "") +
                                 ": observed, learned")
                          .labels("t", "y");
    for (int64_t j = 0; j < std::min<int64_t>(dim, 4); ++j)
      over_time.points(first.t, first.y.select(1, j), colours[j])
          .line(times[0], curves[0].select(1, j), colours[j], "y" + std::to_string(j + 1));
    if (dim >= 2) {
      auto& phase = figure.panel(1).title("observed (dots), learned (lines)").labels("y1", "y2");
      for (size_t i = 0; i < shown.size(); ++i) {
        const auto& observed = trajectories_[shown[i]];
        phase.points(observed.y.select(1, 0), observed.y.select(1, 1), colours[i])
            .line(curves[i].select(1, 0), curves[i].select(1, 1), colours[i], "'" + observed.id + "'");
      }
    }
    figure.save_png(path);
  }

  static std::string format(double value) {
    std::ostringstream out;
    out.precision(4);
    out << value;
    return out.str();
  }

  Setup setup_;
  std::string data_name_;
  std::vector<data::Trajectory> trajectories_;  // float64 on the CPU
  Split split_;
  int64_t windows_, window_;
  std::vector<std::pair<int64_t, int64_t>> window_starts_;  // (trajectory, first observation)
  NodeField field_;
  ode::SolveOptions solver_;
};

}  // namespace

Schema node_schema() {
  return with_common_settings(
      {
          {"data", "spiral",
           "spiral (torchdiffeq's ode_demo, 1000 points on [0, 25]) or a trajectories file: .csv with the header "
           "trajectory,t,y1,...,yd, or .npy/.pt holding [rows, 2 + d] with those columns"},
          {"holdout", 0.2, "fraction held out for evaluation (0: evaluate on the training data)", {}, {}, 0.0, 1.0},
          {"holdout_by",
           "time",
           "hold out the last fraction of every trajectory (time: a forecast) or whole "
           "trajectories (trajectory)",
           {"time", "trajectory"}},
          {"windows", 200, "windows of consecutive training observations per iteration", {}, {}, 1},
          {"window", 10, "observations per window", {}, {}, 2},
          {"field", "mlp",
           "mlp (the keys below), or a TorchScript file whose forward(t, y) is the field: t a 0-d "
           "time or one time per row [B, 1], y [B, d]"},
          {"hidden", std::vector<int64_t>{50}, "hidden widths of the MLP field", {}, 0.0},
          {"activation", "tanh", "activation of the MLP field", core::activation_names()},
          {"time_input", false, "the MLP field sees t as one more input (a non-autonomous field)"},
          {"input",
           "auto",
           "what the MLP sees: y; cube: y^3 (ode_demo's field); standardized: (y - mean) / std of "
           "the training data, output scaled back by std; standardized_cube; auto: cube on the spiral, standardized "
           "on a file",
           {"auto", "y", "cube", "standardized", "standardized_cube"}},
          {"method", "dopri5", "ODE method", ode::method_names()},
          {"rtol", 1e-7, "relative tolerance", {}, 0.0},
          {"atol", 1e-9, "absolute tolerance", {}, 0.0},
          {"gradient", "direct", "gradients through the solver", ode::gradient_names()},
      },
      // The forecast error wanders from one iteration to the next while the windows' loss falls:
      // the run keeps its best evaluated model.
      1000,
      {{"dtype", "float64"},
       {"lr", 3e-3},
       {"lr_schedule", "cosine"},
       {"lr_end", 3e-5},
       {"eval_every", 50},
       {"keep_best", true}});
}

std::unique_ptr<Task> make_node_task(const Json& config, const Setup& setup) {
  return std::make_unique<NODETask>(config, setup);
}

}  // namespace deepdyn::cli
