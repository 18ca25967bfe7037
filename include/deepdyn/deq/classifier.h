#pragma once
// A deep equilibrium image classifier (the single-layer DEQ of Bai, Kolter & Koltun 2019 on
// flattened images): u = U x + c, z* = tanh(LayerNorm(W z* + u)), logits = V z* + d.
#include <torch/torch.h>

#include <utility>

#include "deepdyn/deq/deq.h"

namespace deepdyn::deq {

/// f(z, u) = tanh(LayerNorm(W z + u)), W without bias.
struct TanhNormCellImpl : torch::nn::Module {
  explicit TanhNormCellImpl(int64_t width);
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& injection);
  torch::nn::Linear w{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(TanhNormCell);

class DEQClassifierImpl : public torch::nn::Module {
 public:
  /// inputs: features per example after flattening; the fixed point starts at z = 0.
  DEQClassifierImpl(int64_t inputs, int64_t width, int64_t classes, DEQOptions options = {});
  /// x [batch, ...] (flattened to [batch, inputs]) -> logits [batch, classes] and the solver's stats.
  std::pair<torch::Tensor, DEQOutput> forward(const torch::Tensor& x);
  torch::nn::Linear inject{nullptr}, head{nullptr};
  DEQ deq{nullptr};

 private:
  int64_t width_;
};
TORCH_MODULE(DEQClassifier);

}  // namespace deepdyn::deq
