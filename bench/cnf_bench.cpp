// Google Benchmark: one FFJORD training iteration (forward log-likelihood and backward) on
// 8gaussians: batch 512, concat-squash net 2-64-64-64-2 (tanh), Hutchinson trace, dopri5 at
// rtol = atol = 1e-5, with the adjoint or direct gradient, plain and RNODE-regularized. The flow's
// last layer is drawn at random (an untrained flow is the identity, which costs almost nothing to
// integrate) and kept fixed, so every iteration solves the same problem. Forward and backward NFE
// are counters.
//   bench_cnf --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <deepdyn/deepdyn.h>

namespace dd = deepdyn;

namespace {

void BM_FfjordIteration(benchmark::State& state) {
  const dd::ode::Gradient gradient = state.range(0) ? dd::ode::Gradient(dd::ode::Adjoint{}) : dd::ode::Direct{};
  const bool rnode = state.range(1) != 0;
  torch::manual_seed(0);
  auto options = dd::cnf::CNFOptions(2)
                     .hidden({64, 64, 64})
                     .solver(dd::ode::SolveOptions().rtol(1e-5).atol(1e-5).gradient(gradient));
  if (rnode) options.regularize(dd::reg::RNODE(0.01, 0.01));
  dd::cnf::CNF flow(options);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : flow->blocks[0]->layers.back()->parameters()) p.copy_(0.3 * torch::randn_like(p));
  }
  auto x = dd::data::sample_toy(dd::data::Toy::EightGaussians, 512, 1);
  int64_t nfe = 0, nfe_backward = 0;
  for (auto _ : state) {
    auto out = flow->forward(x);
    auto loss = -out.log_prob.mean() + out.penalty;
    for (auto& p : flow->parameters()) p.mutable_grad() = torch::Tensor();
    loss.backward();
    const auto stats = out.stats();
    nfe = stats.nfe;
    nfe_backward = stats.nfe_backward;
  }
  state.SetLabel(dd::ode::gradient_name(gradient) + (rnode ? "+rnode" : ""));
  state.counters["nfe_forward"] = static_cast<double>(nfe);
  state.counters["nfe_backward"] = static_cast<double>(nfe_backward);
}

}  // namespace

BENCHMARK(BM_FfjordIteration)->ArgsProduct({{1, 0}, {0, 1}})->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
