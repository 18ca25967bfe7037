#pragma once
// The spiral benchmark field of torchdiffeq's ode_demo: f(t, y) = net(y^3) with
// net = Linear(2, 50) -> tanh -> Linear(50, 2).
#include <torch/torch.h>

struct SpiralNetImpl : torch::nn::Module {
  torch::nn::Linear in{nullptr}, out{nullptr};
  SpiralNetImpl() {
    in = register_module("in", torch::nn::Linear(2, 50));
    out = register_module("out", torch::nn::Linear(50, 2));
  }
  torch::Tensor forward(const torch::Tensor& /*t*/, const torch::Tensor& y) { return out(torch::tanh(in(y.pow(3)))); }
};
TORCH_MODULE(SpiralNet);
