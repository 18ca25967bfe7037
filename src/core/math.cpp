#include "deepdyn/core/math.h"

#include <ATen/Dispatch.h>

#include <cmath>

namespace deepdyn::core {

torch::Tensor squared_row_norm(const torch::Tensor& x) { return x.pow(2).flatten(1).sum(1); }

torch::Tensor diagonal_gaussian_log_density(const torch::Tensor& z, const torch::Tensor& mean,
                                            const torch::Tensor& log_variance) {
  return (-0.5 * ((z - mean).square() * (-log_variance).exp() + log_variance + kLogTwoPi)).sum(-1);
}

std::pair<torch::Tensor, torch::Tensor> standardization(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 2 && x.size(0) >= 2, "standardization: expected data [n >= 2, d], got shape ", x.sizes());
  const auto deviation = x.std(0);
  return {x.mean(0), torch::where(deviation > 0, deviation, torch::ones_like(deviation))};
}

bool all_finite(const torch::Tensor& x) {
  const auto data = x.detach();
  if (!data.device().is_cpu() || !data.is_contiguous() ||
      !(data.scalar_type() == at::kFloat || data.scalar_type() == at::kDouble))
    return torch::isfinite(data).all().item<bool>();
  bool finite = true;
  AT_DISPATCH_FLOATING_TYPES(data.scalar_type(), "all_finite", [&] {
    const scalar_t* v = data.data_ptr<scalar_t>();
    for (int64_t i = 0; i < data.numel(); ++i) finite &= std::isfinite(v[i]);
  });
  return finite;
}

}  // namespace deepdyn::core
