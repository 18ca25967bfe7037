// Google Benchmark: ODE2VAE on vector sequences (16 features, 20 frames, batch 64, latent q = 8,
// the Bayesian field 16-50-50-8 with tanh, RK4 with 5 substeps per frame): one training step
// (ELBO forward and backward), and the latent flow alone (the solve of [s, v, log q] with the
// trace of df/dv, and its gradient for z0 and the sampled weights), exact trace and Hutchinson.
//   bench_ode2vae --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <deepdyn/deepdyn.h>

namespace dd = deepdyn;

namespace {

constexpr int64_t kBatch = 64, kFrames = 20, kFeatures = 16, kLatent = 8;

dd::ode2vae::ODE2VAE model(const benchmark::State& state) {
  torch::manual_seed(0);
  const auto trace = state.range(0) ? dd::core::TraceEstimator::Exact : dd::core::TraceEstimator::Hutchinson;
  return dd::ode2vae::ODE2VAE(dd::ode2vae::ODE2VAEOptions({kFeatures}, kLatent).trace(trace));
}

void BM_ODE2VAEStep(benchmark::State& state) {
  auto vae = model(state);
  const auto x = torch::randn({kBatch, kFrames, kFeatures});
  for (auto _ : state) {
    auto out = vae->forward(x);
    for (auto& p : vae->parameters()) p.mutable_grad() = torch::Tensor();
    out.loss.backward();
  }
  state.SetLabel(state.range(0) ? "exact" : "hutchinson");
}

void BM_LatentFlow(benchmark::State& state) {
  auto vae = model(state);
  const auto z0 = torch::randn({kBatch, 2 * kLatent}).requires_grad_();
  const auto log_q0 = torch::zeros({kBatch});
  for (auto _ : state) {
    const auto f = vae->field->sample();
    const auto ys = vae->latent_flow(f, z0, log_q0, kFrames).ys;
    for (auto& p : vae->parameters()) p.mutable_grad() = torch::Tensor();
    z0.mutable_grad() = torch::Tensor();
    (ys[0].square().sum() + ys[1].square().sum() + ys[2].sum()).backward();
  }
  state.SetLabel(state.range(0) ? "exact" : "hutchinson");
}

}  // namespace

BENCHMARK(BM_ODE2VAEStep)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LatentFlow)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
