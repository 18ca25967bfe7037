// Integrates the spiral of torchdiffeq's ode_demo, dy/dt = y^3 A with
// A = [[-0.1, 2], [-2, -0.1]], y0 = [2, 0], t in [0, 25], with every adaptive
// method at rtol 1e-7, atol 1e-9, and prints NFE, steps and the error against a
// dopri8 reference solved at rtol 1e-12, atol 1e-14.
//   example_spiral [points=1000]
#include <deepdyn/deepdyn.h>

#include <cstdio>
#include <cstdlib>

namespace dd = deepdyn;

int main(int argc, char** argv) {
  const int64_t points = argc > 1 ? std::atoll(argv[1]) : 1000;
  auto spiral = [](const torch::Tensor&, const torch::Tensor& y) { return dd::data::spiral_field(y); };
  const auto y0 = dd::data::spiral_start();
  const auto ts = torch::linspace(0.0, 25.0, points, torch::kFloat64);

  const auto reference =
      dd::ode::solve(spiral, y0, ts, dd::ode::SolveOptions().method(dd::ode::Method::Dopri8).rtol(1e-12).atol(1e-14));
  std::printf("spiral dy/dt = y^3 A on [0, 25], %lld output times, rtol 1e-7, atol 1e-9 (float64)\n",
              static_cast<long long>(points));
  std::printf("%-11s %8s %8s %10s %14s\n", "method", "nfe", "steps", "rejected", "max |error|");
  for (auto method : dd::ode::all_methods()) {
    if (!dd::ode::is_adaptive(method)) continue;
    const auto sol = dd::ode::solve(spiral, y0, ts, dd::ode::SolveOptions().method(method).throw_on_failure(false));
    if (sol.stats->termination != dd::core::Termination::Success) {
      std::printf("%-11s %8lld  stopped: %s\n", dd::ode::method_name(method).c_str(),
                  static_cast<long long>(sol.stats->nfe), sol.stats->message.c_str());
      continue;
    }
    const double error = (sol.ys - reference.ys).abs().max().item<double>();
    std::printf("%-11s %8lld %8lld %10lld %14.3e\n", dd::ode::method_name(method).c_str(),
                static_cast<long long>(sol.stats->nfe), static_cast<long long>(sol.stats->steps),
                static_cast<long long>(sol.stats->rejected), error);
  }
  return 0;
}
