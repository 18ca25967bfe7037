// One evaluation, and one evaluation with its vector-Jacobian product (for the input, the weights
// and the biases), of an MLP at batch 1024: core::mlp's fused kernels against the same network in
// LibTorch operations (linear, LibTorch's tanh, autograd), one thread. Two shapes per width w:
// field, 2 -> w (tanh) -> 2 on y^3 (torchdiffeq's ode_demo field at w = 50), and square,
// w -> w (tanh) -> w. Widths 50 and 256, float32 and float64. The counter per_element is the time
// per hidden element (1024 w).
//   bench_mlp --benchmark_repetitions=9 --benchmark_enable_random_interleaving=true
//             --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <deepdyn/core/mlp.h>

#include <vector>

namespace core = deepdyn::core;

namespace {

constexpr int64_t kBatch = 1024;

struct Network {
  torch::Tensor x;
  std::vector<torch::Tensor> weights, biases;
  core::MLPInput input;
  Network(int64_t width, bool square, torch::Dtype dtype) : input(square ? core::MLPInput::Identity : core::MLPInput::Cube) {
    torch::manual_seed(0);
    const int64_t outer = square ? width : 2;
    x = torch::randn({kBatch, outer}, dtype);
    const std::vector<int64_t> widths = {outer, width, outer};
    for (int i = 0; i < 2; ++i) {
      weights.push_back((torch::randn({widths[i + 1], widths[i]}, dtype) / std::sqrt(widths[i])).requires_grad_());
      biases.push_back(torch::zeros({widths[i + 1]}, dtype).requires_grad_());
    }
  }
};

torch::Tensor libtorch(const torch::Tensor& x, const std::vector<torch::Tensor>& w, const std::vector<torch::Tensor>& b,
                       core::Activation, core::MLPInput input) {
  const auto u = input == core::MLPInput::Cube ? x.pow(3) : x;
  return torch::nn::functional::linear(torch::tanh(torch::nn::functional::linear(u, w[0], b[0])), w[1], b[1]);
}

template <class Net>
void run(benchmark::State& state, Net net_fn, bool vjp) {
  torch::set_num_threads(1);
  const int64_t width = state.range(0);
  const auto dtype = state.range(1) == 32 ? torch::kFloat32 : torch::kFloat64;
  Network net(width, state.range(2) == 1, dtype);
  const auto x = vjp ? net.x.clone().requires_grad_() : net.x;
  const auto v = torch::randn_like(net.x);
  for (auto _ : state) {
    if (vjp) {
      auto y = net_fn(x, net.weights, net.biases, core::Activation::Tanh, net.input);
      auto inputs = net.weights;
      inputs.push_back(x);
      benchmark::DoNotOptimize(torch::autograd::grad({y}, inputs, {v}));
    } else {
      torch::NoGradGuard no_grad;
      benchmark::DoNotOptimize(net_fn(x, net.weights, net.biases, core::Activation::Tanh, net.input));
    }
  }
  state.counters["per_element"] =
      benchmark::Counter(static_cast<double>(kBatch * width), benchmark::Counter::kIsIterationInvariantRate |
                                                                  benchmark::Counter::kInvert);
}

void BM_FusedEval(benchmark::State& s) { run(s, core::mlp, false); }
void BM_LibTorchEval(benchmark::State& s) { run(s, libtorch, false); }
void BM_FusedVJP(benchmark::State& s) { run(s, core::mlp, true); }
void BM_LibTorchVJP(benchmark::State& s) { run(s, libtorch, true); }

void shapes(benchmark::internal::Benchmark* b) {
  for (int64_t square : {0, 1})
    for (int64_t width : {50, 256})
      for (int64_t bits : {32, 64}) b->Args({width, bits, square});
  b->ArgNames({"width", "bits", "square"})->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_FusedEval)->Apply(shapes);
BENCHMARK(BM_LibTorchEval)->Apply(shapes);
BENCHMARK(BM_FusedVJP)->Apply(shapes);
BENCHMARK(BM_LibTorchVJP)->Apply(shapes);
BENCHMARK_MAIN();
