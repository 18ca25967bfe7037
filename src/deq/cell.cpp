#include "deepdyn/deq/cell.h"

#include <cmath>

#include "deepdyn/core/activation.h"

namespace deepdyn::deq {

TanhCellImpl::TanhCellImpl(int64_t width) {
  TORCH_CHECK(width >= 1, "TanhCell: width must be >= 1, got ", width);
  const double bound = 1.0 / std::sqrt(static_cast<double>(width));
  weight = register_parameter("weight", torch::empty({width, width}).uniform_(-bound, bound));
}

torch::Tensor TanhCellImpl::forward(const torch::Tensor& z, const torch::Tensor& injection) {
  const int64_t width = weight.size(0);
  TORCH_CHECK(z.dim() == 2 && z.size(1) == width, "TanhCell: z must be [batch, ", width, "], got ", z.sizes());
  TORCH_CHECK(injection.sizes() == z.sizes() || (injection.dim() == 1 && injection.size(0) == width),
              "TanhCell: the injection must be [batch, ", width, "] like z or [", width, "], got ", injection.sizes());
  return core::tanh(at::addmm(injection, z, weight.t()));
}

torch::Tensor TanhCellImpl::vjp(const torch::Tensor& /*z*/, const torch::Tensor& fz, const torch::Tensor& v) {
  torch::NoGradGuard no_grad;
  return at::mm(v * (1 - fz.square()), weight);  // tanh' = 1 - tanh^2, read off f itself
}

}  // namespace deepdyn::deq
