#pragma once
// The DEQ benchmark cell: f(z, x) = tanh(z W^T + x U^T + b), W scaled to spectral norm 0.9 so
// that the fixed point exists and is unique, U scaled by 1/sqrt(inputs).
#include <torch/torch.h>

#include <cmath>

struct TanhCellImpl : torch::nn::Module {
  torch::Tensor w, u, b;
  TanhCellImpl(int64_t width, int64_t inputs) {
    auto w0 = torch::randn({width, width});
    w = register_parameter("w", w0 * (0.9 / torch::linalg_svdvals(w0).max()));
    u = register_parameter("u", torch::randn({width, inputs}) / std::sqrt(double(inputs)));
    b = register_parameter("b", torch::zeros({width}));
  }
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& x) {
    return torch::tanh(torch::matmul(z, w.t()) + torch::matmul(x, u.t()) + b);
  }
};
TORCH_MODULE(TanhCell);
