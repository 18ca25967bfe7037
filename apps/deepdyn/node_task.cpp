// deepdyn train node: a Neural ODE fitted to the spiral of torchdiffeq's ode_demo (data/spiral.h),
// 1000 times on [0, 25]; the model is
// f(t, y) = net(y^3) and each iteration fits random windows of consecutive points (L1 loss). Its
// evaluation is the mean absolute error of the whole trajectory integrated from y0.
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/image.h>

#include "task.h"

namespace deepdyn::cli {
namespace {

constexpr int64_t kPoints = 1000;
constexpr double kEndTime = 25.0;

class NODETask : public Task {
 public:
  NODETask(const Json& c, const Setup& setup)
      : setup_(setup),
        windows_(c["windows"].get<int64_t>()),
        window_(c["window"].get<int64_t>()),
        net_(torch::nn::Linear(2, c["hidden"].get<int64_t>()), core::tanh_layer(),
             torch::nn::Linear(c["hidden"].get<int64_t>(), 2)) {
    for (auto& layer : {net_[0]->as<torch::nn::Linear>(), net_[2]->as<torch::nn::Linear>()}) {
      torch::NoGradGuard no_grad;  // torchdiffeq's ode_demo initialisation: weights N(0, 0.1^2), biases 0
      layer->weight.normal_(0, 0.1);
      layer->bias.zero_();
    }
    net_->to(setup_.device, setup_.dtype);
    solver_ = solve_options_of(c).params(net_->parameters());
    ts_ = torch::linspace(0, kEndTime, kPoints, setup_.options());
    y0_ = data::spiral_start(setup_.options());
    truth_ = data::spiral_trajectory(ts_);  // [1000, 1, 2]
    setup_.shard.check(windows_, "windows");
  }

  StepMetrics gradients(int64_t iteration) override {
    auto generator = iteration_generator(setup_.seed, iteration);
    auto starts = setup_.shard.of(torch::randint(kPoints - window_, {windows_}, generator, torch::kLong)).to(setup_.device);
    std::vector<torch::Tensor> targets;
    for (int64_t i = 0; i < window_; ++i) targets.push_back(truth_.index_select(0, starts + i));
    auto target = torch::stack(targets);  // [window, windows, 1, 2]
    auto solution = ode::solve(field(), target[0], ts_.narrow(0, 0, window_), solver_);
    auto loss = (solution.ys - target).abs().mean();
    loss.backward();
    return {loss.item<double>(), solution.stats->nfe, solution.stats->nfe_backward};
  }

  Json evaluate() override {
    auto learned = trajectory(ts_);
    return {{"mae", (learned - truth_).abs().mean().item<double>()}, {"points", kPoints}, {"end_time", kEndTime}};
  }
  Headline headline() const override { return {"mae", true}; }

  /// The learned trajectory from y0 at n equally spaced times on [0, 25].
  torch::Tensor sample(int64_t n) override {
    TORCH_CHECK(n >= 2, "node samples are a trajectory: --n must be >= 2, got ", n);
    return trajectory(torch::linspace(0, kEndTime, n, setup_.options())).squeeze(1);
  }

  std::vector<std::string> write_pictures(const std::string& directory) override {
    auto truth = truth_.squeeze(1).cpu(), learned = trajectory(ts_).squeeze(1).cpu();
    io::Image image(600, 600);
    io::Plot("phase portrait: true (green), learned (blue)")
        .line(truth.select(1, 0), truth.select(1, 1), {40, 160, 60}, "true")
        .line(learned.select(1, 0), learned.select(1, 1), {40, 80, 220}, "learned")
        .render(image, 0, 0, 600, 600);
    image.save_png(directory + "/trajectory.png");
    return {"trajectory.png"};
  }

  torch::nn::Module& model() override { return *net_; }

 private:
  ode::Field field() {
    return [net = net_](const torch::Tensor&, const torch::Tensor& y) mutable { return net->forward(y.pow(3)); };
  }
  torch::Tensor trajectory(const torch::Tensor& ts) {
    torch::NoGradGuard no_grad;
    return ode::solve(field(), y0_, ts, ode::SolveOptions(solver_).gradient(ode::Direct{})).ys;
  }

  Setup setup_;
  int64_t windows_, window_;
  torch::nn::Sequential net_;
  ode::SolveOptions solver_;
  torch::Tensor ts_, y0_, truth_;
};

}  // namespace

Schema node_schema() {
  return with_common_settings(
      {
          {"windows", 200, "windows of the true trajectory per iteration", {}, {}, 1},
          {"window", 10, "points per window", {}, {}, 2},
          {"hidden", 50, "hidden width of net in f(t, y) = net(y^3)", {}, {}, 1},
          {"method", "dopri5", "ODE method", ode::method_names()},
          {"rtol", 1e-7, "relative tolerance", {}, 0.0},
          {"atol", 1e-9, "absolute tolerance", {}, 0.0},
          {"gradient", "adjoint", "gradients through the solver", ode::gradient_names()},
      },
      // The error over 25 time units amplifies small phase errors and wanders from one iteration to
      // the next while the windows' loss falls: the run keeps its best evaluated model.
      1000, {{"dtype", "float64"}, {"lr", 3e-3}, {"lr_schedule", "cosine"}, {"lr_end", 3e-5}, {"eval_every", 50},
             {"keep_best", true}});
}

std::unique_ptr<Task> make_node_task(const Json& config, const Setup& setup) {
  TORCH_CHECK(config["window"].get<int64_t>() < kPoints, "config key 'window' must be < ", kPoints);
  return std::make_unique<NODETask>(config, setup);
}

}  // namespace deepdyn::cli
