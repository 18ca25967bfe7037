// Peak memory and time of one forward+backward pass through solve() as the
// number of steps grows 10x and 100x, for each gradient strategy (issue 3).
// rk4 with a shrinking fixed step on the library's MLP field (ode::MLPField, 2 -> 64 -> 64 -> 2,
// tanh, 4482 parameters), batch 256, float32. Each measurement runs in a forked child
// (peak_memory.h).
//   bench_gradient_memory [base_steps=10]
#include <deepdyn/deepdyn.h>
#include <deepdyn/ode/mlp_field.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "peak_memory.h"

namespace dd = deepdyn;

namespace {

dd::ode::MLPField make_field() {
  return dd::ode::MLPField(dd::ode::MLPFieldOptions(2).hidden({64, 64}));  // core::mlp: fused kernels
}

struct Measurement {
  double peak_mb;
  double seconds;
  long long nfe, nfe_backward;
};

// Runs in the child: one forward and backward pass, reported through a pipe.
Measurement measure(dd::ode::MLPField& field, const torch::Tensor& y0, dd::ode::Gradient gradient, int steps) {
  const dd::bench::PeakMemory peak;
  const auto start = std::chrono::steady_clock::now();
  auto opts = dd::ode::SolveOptions().method(dd::ode::Method::RK4).step_size(1.0 / steps).gradient(gradient);
  auto sol = dd::ode::solve(field, y0, torch::tensor({0.0, 1.0}, torch::kFloat64), opts);
  sol.ys[1].pow(2).mean().backward();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {peak.megabytes(), seconds, static_cast<long long>(sol.stats->nfe),
          static_cast<long long>(sol.stats->nfe_backward)};
}

}  // namespace

int main(int argc, char** argv) {
  const int base = argc > 1 ? std::atoi(argv[1]) : 10;
  torch::set_num_threads(1);
  torch::manual_seed(0);
  auto field = make_field();
  const auto y0 = torch::randn({256, 2});
  int64_t params = 0;
  for (const auto& p : field->parameters()) params += p.numel();
  std::printf("forward+backward of rk4 on [0, 1], MLP field with %lld parameters, batch 256, float32, 1 thread\n",
              static_cast<long long>(params));
  std::printf("%-13s %7s %12s %10s %9s %10s %12s\n", "gradient", "steps", "peak MB", "vs first", "time s", "nfe",
              "nfe backward");
  const std::pair<const char*, dd::ode::Gradient> gradients[] = {
      {"direct", dd::ode::Direct{}}, {"adjoint", dd::ode::Adjoint{}}, {"checkpointed", dd::ode::Checkpointed{}}};
  for (const auto& [name, gradient] : gradients) {
    double first = 0;
    for (int steps : {base, 10 * base, 100 * base}) {
      const auto m = dd::bench::in_child<Measurement>([&] { return measure(field, y0, gradient, steps); });
      if (first == 0) first = m.peak_mb;
      std::printf("%-13s %7d %12.1f %9.2fx %9.3f %10lld %12lld\n", name, steps, m.peak_mb, m.peak_mb / first, m.seconds,
                  m.nfe, m.nfe_backward);
    }
  }
  return 0;
}
