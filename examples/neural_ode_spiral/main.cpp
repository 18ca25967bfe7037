// Fits the spiral of torchdiffeq's ode_demo with a Neural ODE trained through the
// adjoint method. True dynamics dy/dt = y^3 A, A = [[-0.1, 2], [-2, -0.1]],
// y0 = [2, 0], 1000 times on [0, 25]. The model is torchdiffeq's: f(t, y) = net(y^3)
// with net = Linear(2, 50) -> tanh -> Linear(50, 2). Each iteration fits 200 random
// windows of 10 consecutive points (L1 loss, Adam, learning rate 3e-3 with cosine
// decay to 3e-5). Every 50 iterations the whole trajectory is integrated from y0;
// the parameters with the lowest mean absolute error over it are kept (the windows
// fit the local velocity well, while the error over 25 time units, which amplifies
// small phase errors, wanders from one iteration to the next). At the end a PNG
// of true and learned trajectories is written.
//   example_neural_ode_spiral [iterations=2000] [png=spiral_fit.png] [seed=0]
// Exits 0 when the kept parameters reach a mean absolute error of at most 0.1.
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/image.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace dd = deepdyn;

namespace {

struct SpiralFieldImpl : torch::nn::Module {
  torch::nn::Linear l1{nullptr}, l2{nullptr};
  SpiralFieldImpl() {
    l1 = register_module("l1", torch::nn::Linear(2, 50));
    l2 = register_module("l2", torch::nn::Linear(50, 2));
    for (auto* l : {&l1, &l2}) {
      torch::nn::init::normal_((*l)->weight, 0.0, 0.1);
      torch::nn::init::zeros_((*l)->bias);
    }
  }
  torch::Tensor forward(const torch::Tensor&, const torch::Tensor& y) { return l2(torch::tanh(l1(y.pow(3)))); }
};
TORCH_MODULE(SpiralField);

void save_picture(const torch::Tensor& ts, const torch::Tensor& truth, const torch::Tensor& learned,
                  const std::string& path) {
  const dd::io::Rgb green{40, 160, 60}, blue{40, 80, 220};
  dd::io::Image image(1200, 500);
  dd::io::Plot("trajectories over t")
      .line(ts, truth.select(1, 0), green, "true x", 3)
      .line(ts, truth.select(1, 1), green, "true y", 1)
      .line(ts, learned.select(1, 0), blue, "learned x", 3)
      .line(ts, learned.select(1, 1), blue, "learned y", 1)
      .render(image, 0, 0, 700, 500);
  dd::io::Plot("phase portrait")
      .line(truth.select(1, 0), truth.select(1, 1), green, "true")
      .line(learned.select(1, 0), learned.select(1, 1), blue, "learned")
      .render(image, 700, 0, 500, 500);
  image.save_png(path);
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 2000;
  const std::string png = argc > 2 ? argv[2] : "spiral_fit.png";
  const int seed = argc > 3 ? std::atoi(argv[3]) : 0;
  const int test_every = 50, batch_size = 200, batch_time = 10, data_size = 1000;
  const double lr0 = 3e-3, lr_end = 3e-5;
  torch::manual_seed(seed);
  torch::set_default_dtype(caffe2::TypeMeta::Make<double>());

  const auto a = torch::tensor({{-0.1, 2.0}, {-2.0, -0.1}});
  auto truth_field = [a](const torch::Tensor&, const torch::Tensor& y) { return y.pow(3).mm(a); };
  const auto y0 = torch::tensor({{2.0, 0.0}});
  const auto ts = torch::linspace(0.0, 25.0, data_size, torch::kFloat64);
  const auto truth = dd::ode::solve(truth_field, y0, ts).ys;  // [1000, 1, 2]
  const auto window_ts = ts.slice(0, 0, batch_time);

  SpiralField field;
  torch::optim::Adam optimizer(field->parameters(), torch::optim::AdamOptions(lr0));
  const auto train_options = dd::ode::SolveOptions().gradient(dd::ode::Gradient::Adjoint);

  auto whole_trajectory = [&] {
    torch::NoGradGuard no_grad;
    return dd::ode::solve(field, y0, ts).ys;
  };

  std::printf("Neural ODE on the spiral: adjoint gradients, dopri5 rtol 1e-7 atol 1e-9, %d iterations\n", iterations);
  const auto start = std::chrono::steady_clock::now();
  int64_t nfe = 0, nfe_backward = 0;
  double best_mae = INFINITY;
  int best_iteration = 0;
  std::vector<torch::Tensor> best;
  for (int it = 1; it <= iterations; ++it) {
    // Random windows of the true trajectory: starts [M, 1, 2], targets [T, M, 1, 2].
    auto starts = torch::randint(data_size - batch_time, {batch_size}, torch::kLong);
    std::vector<torch::Tensor> targets;
    for (int i = 0; i < batch_time; ++i) targets.push_back(truth.index_select(0, starts + i));
    auto target = torch::stack(targets);

    const double lr = lr_end + 0.5 * (lr0 - lr_end) * (1 + std::cos(M_PI * (it - 1) / iterations));
    static_cast<torch::optim::AdamOptions&>(optimizer.param_groups()[0].options()).lr(lr);
    optimizer.zero_grad();
    auto sol = dd::ode::solve(field, target[0], window_ts, train_options);
    auto loss = (sol.ys - target).abs().mean();
    loss.backward();
    optimizer.step();
    nfe += sol.stats->nfe;
    nfe_backward += sol.stats->nfe_backward;

    if (it % test_every == 0 || it == iterations) {
      const double mae = (whole_trajectory() - truth).abs().mean().item<double>();
      if (mae < best_mae) {
        best_mae = mae;
        best_iteration = it;
        best.clear();
        for (const auto& p : field->parameters()) best.push_back(p.detach().clone());
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("iter %5d  window loss %.4f  whole-trajectory MAE %.4f  mean NFE fwd %.1f bwd %.1f  %.1f s\n", it,
                  loss.item<double>(), mae, static_cast<double>(nfe) / test_every,
                  static_cast<double>(nfe_backward) / test_every, seconds);
      std::fflush(stdout);
      nfe = nfe_backward = 0;
    }
  }
  {
    torch::NoGradGuard no_grad;
    auto params = field->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best[i]);
  }
  const auto learned = whole_trajectory();
  const double final_mae = (learned - truth).abs().mean().item<double>();
  save_picture(ts, truth.squeeze(1), learned.squeeze(1), png);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "kept iteration %d: mean absolute error over the whole trajectory %.4f (goal <= 0.1), %.0f s; "
      "picture: %s\n",
      best_iteration, final_mae, seconds, png.c_str());
  return final_mae <= 0.1 ? 0 : 1;
}
