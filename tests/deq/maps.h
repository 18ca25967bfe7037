#pragma once
// Fixed-point maps of the DEQ tests, float64.
#include <torch/torch.h>

namespace deepdyn::testing {

/// W scaled to the given spectral norm (largest singular value).
inline torch::Tensor with_spectral_norm(torch::Tensor w, double norm) {
  return w * (norm / torch::linalg_svdvals(w).max());
}

/// z = tanh(z W^T + x U^T + b): the DEQ cell of the issue (width 64, ||W||_2 chosen).
struct TanhCell : torch::nn::Module {
  torch::Tensor w, u, b;
  explicit TanhCell(double spectral_norm, int64_t width = 64, int64_t inputs = 32, uint64_t seed = 7) {
    torch::manual_seed(seed);
    auto options = torch::TensorOptions().dtype(torch::kFloat64);
    w = register_parameter("w", with_spectral_norm(torch::randn({width, width}, options), spectral_norm));
    u = register_parameter("u", torch::randn({width, inputs}, options) / std::sqrt(double(inputs)));
    b = register_parameter("b", 0.5 * torch::randn({width}, options));
  }
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& x) {
    return torch::tanh(torch::matmul(z, w.t()) + torch::matmul(x, u.t()) + b);
  }
};

/// z = tanh(z W^T + x U^T) with W symmetric, so that its spectral radius equals ||W||_2: with weak inputs
/// keeping tanh near its linear part, Picard contracts slowly (the slow cell of issue 15).
struct SymmetricTanhCell {
  torch::Tensor w, u;
  SymmetricTanhCell(double spectral_norm, int64_t width, int64_t inputs = 32, uint64_t seed = 11) {
    torch::manual_seed(seed);
    auto options = torch::TensorOptions().dtype(torch::kFloat64);
    auto a = torch::randn({width, width}, options);
    w = with_spectral_norm(a + a.t(), spectral_norm);
    u = torch::randn({width, inputs}, options) / std::sqrt(double(inputs));
  }
  torch::Tensor operator()(const torch::Tensor& z, const torch::Tensor& x) const {
    return torch::tanh(torch::matmul(z, w.t()) + torch::matmul(x, u.t()));
  }
};

}  // namespace deepdyn::testing
