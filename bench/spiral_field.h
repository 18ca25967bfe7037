#pragma once
// The spiral benchmark field of torchdiffeq's ode_demo: f(t, y) = net(y^3) with
// net = Linear(2, 50) -> tanh -> Linear(50, 2).
#include <deepdyn/core/activation.h>
#include <deepdyn/core/mlp.h>
#include <deepdyn/ode/solve.h>
#include <torch/torch.h>

#include <array>
#include <vector>

/// How the same function is computed: core::mlp's fused kernels (the library's building block),
/// LibTorch operations with deepdyn's tanh (core/activation.h), or LibTorch operations throughout.
enum class SpiralKernels { Fused, Operations, LibTorch };

struct SpiralNetImpl : torch::nn::Module {
  torch::nn::Linear in{nullptr}, out{nullptr};
  SpiralKernels kernels;
  explicit SpiralNetImpl(SpiralKernels kernels = SpiralKernels::Operations) : kernels(kernels) {
    in = register_module("in", torch::nn::Linear(2, 50));
    out = register_module("out", torch::nn::Linear(50, 2));
  }
  torch::Tensor forward(const torch::Tensor& /*t*/, const torch::Tensor& y) {
    if (kernels == SpiralKernels::Fused)
      return deepdyn::core::mlp(y, {in->weight, out->weight}, {in->bias, out->bias}, deepdyn::core::Activation::Tanh,
                                deepdyn::core::MLPInput::Cube);
    const auto h = in(y.pow(3));
    return out(kernels == SpiralKernels::LibTorch ? torch::tanh(h) : deepdyn::core::tanh(h));
  }
};
TORCH_MODULE(SpiralNet);

/// The vector-Jacobian product of the fused spiral field f(t, y) = W2 tanh(W1 y^3 + b1) + b2 by
/// core::mlp_vjp, for SolveOptions::vjp (the tapeless Direct gradient and the Adjoint without a
/// graph per evaluation); `at` gives where W1, b1, W2 and b2 stand in SolveOptions::params.
inline deepdyn::ode::FieldVJP spiral_vjp(torch::Tensor w1, torch::Tensor b1, torch::Tensor w2, torch::Tensor b2,
                                         std::array<size_t, 4> at = {0, 1, 2, 3}) {
  return [=](const torch::Tensor& /*t*/, const torch::Tensor& y, const torch::Tensor& v,
             const std::vector<torch::Tensor>& grads, bool with_value) {
    deepdyn::ode::FieldVJPResult r;
    r.y = deepdyn::core::mlp_vjp(y, {w1, w2}, {b1, b2}, deepdyn::core::Activation::Tanh, deepdyn::core::MLPInput::Cube,
                                 v, {grads[at[0]], grads[at[2]]}, {grads[at[1]], grads[at[3]]},
                                 with_value ? &r.value : nullptr);
    return r;
  };
}

inline deepdyn::ode::FieldVJP spiral_vjp(const SpiralNet& net) {
  return spiral_vjp(net->in->weight, net->in->bias, net->out->weight, net->out->bias);
}

/// The spiral problem of bench_core, bench_ode_floor and the step-control tests: the net drawn
/// after torch::manual_seed(0), then y0 = 0.5 randn(1024, 2); t in [0, 10]; dopri5 at torchdiffeq's
/// ode_demo tolerances, rtol 1e-6 and atol 1e-8.
struct SpiralProblem {
  SpiralNet net{nullptr};
  torch::Tensor y0, ts = torch::tensor({0.0, 10.0}, torch::kFloat64);
  deepdyn::ode::SolveOptions options =
      deepdyn::ode::SolveOptions().method(deepdyn::ode::Method::Dopri5).rtol(1e-6).atol(1e-8);

  explicit SpiralProblem(SpiralKernels kernels = SpiralKernels::Operations) {
    torch::manual_seed(0);
    net = SpiralNet(kernels);
    y0 = torch::randn({1024, 2}) * 0.5;
  }
};
