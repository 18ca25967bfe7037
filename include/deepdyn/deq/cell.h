#pragma once
// The DEQ cell of Bai, Kolter & Koltun's single-layer model without its norm, f(z, u) = tanh(W z + u):
// the input injection u = U x + b is computed once by the caller, since it does not change while z
// iterates. One GEMM with u as its addend and core::tanh per evaluation, and the cell's own
// vector-Jacobian product for the implicit backward (DEQOptions::vjp), which DEQ takes from it.
#include <torch/torch.h>

namespace deepdyn::deq {

struct TanhCellImpl : torch::nn::Module {
  /// W [width, width], drawn as nn::Linear draws its weight.
  explicit TanhCellImpl(int64_t width);
  /// tanh(z W^T + injection) for z [batch, width] and injection [batch, width] (or [width]).
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& injection);
  /// v^T df/dz at z, from fz = f(z, injection): (v * (1 - fz^2)) W, with no graph.
  torch::Tensor vjp(const torch::Tensor& z, const torch::Tensor& fz, const torch::Tensor& v);
  torch::Tensor weight;
};
TORCH_MODULE(TanhCell);

}  // namespace deepdyn::deq
