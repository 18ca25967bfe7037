// A bouncing ball: a terminal event stops each fall at the floor, the velocity is reset
// (v <- -e v) and the solve starts again from the event. Prints each impact against the closed
// form and the impact times' gradient with respect to the drop height.
//   build/examples/example_bouncing_ball [height] [restitution]
#include <deepdyn/deepdyn.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace dd = deepdyn;

int main(int argc, char** argv) {
  const double g = 9.81, height = argc > 1 ? std::stod(argv[1]) : 1.0, e = argc > 2 ? std::stod(argv[2]) : 0.8;
  auto falling = [g](const torch::Tensor&, const torch::Tensor& y) { return torch::stack({y[1], torch::full_like(y[1], -g)}); };
  auto floor = dd::ode::Event([](const torch::Tensor&, const torch::Tensor& y) { return y[0]; }).direction(-1);

  auto h = torch::tensor(height, torch::kFloat64).requires_grad_();
  auto y = torch::stack({h, torch::zeros({}, torch::kFloat64)});
  auto t = torch::zeros({}, torch::kFloat64);
  const double v0 = std::sqrt(2 * g * height);
  double expected = std::sqrt(2 * height / g);
  std::printf("bounce   impact t    closed form   dt/dh (autograd)   dt/dh (closed form)\n");
  for (int bounce = 0; bounce < 5; ++bounce) {
    auto ts = torch::stack({t, t + 10});
    auto sol = dd::ode::solve(falling, y, ts, dd::ode::SolveOptions().rtol(1e-10).atol(1e-12).event(floor));
    const auto& impact = sol.events.at(0);
    // Every flight scales with sqrt(h): t_k = c_k sqrt(h), so dt_k/dh = t_k / (2 h).
    const auto dt_dh = torch::autograd::grad({impact.t}, {h}, {}, /*retain_graph=*/true)[0].item<double>();
    std::printf("%6d %12.9f %13.9f %18.9f %21.9f\n", bounce, impact.t.item<double>(), expected, dt_dh,
                expected / (2 * height));
    t = impact.t;
    y = torch::stack({torch::zeros({}, torch::kFloat64), -e * impact.y[1]});  // the floor reflects the ball
    expected += 2 * std::pow(e, bounce + 1) * v0 / g;
  }
}
