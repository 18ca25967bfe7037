// Google Benchmark: one solve of the spiral field per method, with NFE and steps as counters.
//   bench_solvers --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <deepdyn/deepdyn.h>

#include "spiral_field.h"

namespace dd = deepdyn;

namespace {

void BM_SpiralSolve(benchmark::State& state) {
  const auto method = static_cast<dd::ode::Method>(state.range(0));
  torch::set_num_threads(1);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  SpiralNet net;
  auto y0 = torch::randn({static_cast<int64_t>(state.range(1)), 2}) * 0.5;
  auto ts = torch::tensor({0.0, 10.0}, torch::kFloat64);
  auto opts = dd::ode::SolveOptions().method(method).rtol(1e-6).atol(1e-8);
  if (!dd::ode::is_adaptive(method)) opts.step_size(0.05);
  int64_t nfe = 0, steps = 0;
  for (auto _ : state) {
    auto sol = dd::ode::solve(net, y0, ts, opts);
    nfe = sol.stats->nfe;
    steps = sol.stats->steps;
    benchmark::DoNotOptimize(sol.ys.data_ptr());
  }
  state.SetLabel(dd::ode::method_name(method));
  state.counters["nfe"] = static_cast<double>(nfe);
  state.counters["steps"] = static_cast<double>(steps);
}

void methods(benchmark::internal::Benchmark* b) {
  for (auto m : {dd::ode::Method::RK4, dd::ode::Method::Bosh3, dd::ode::Method::Dopri5, dd::ode::Method::Tsit5,
                 dd::ode::Method::Dopri8})
    for (int64_t batch : {16, 1024}) b->Args({static_cast<int64_t>(m), batch});
}

}  // namespace

BENCHMARK(BM_SpiralSolve)->Apply(methods)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
