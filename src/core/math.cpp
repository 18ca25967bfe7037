#include "deepdyn/core/math.h"

namespace deepdyn::core {

torch::Tensor squared_row_norm(const torch::Tensor& x) { return x.pow(2).flatten(1).sum(1); }

torch::Tensor diagonal_gaussian_log_density(const torch::Tensor& z, const torch::Tensor& mean,
                                            const torch::Tensor& log_variance) {
  return (-0.5 * ((z - mean).square() * (-log_variance).exp() + log_variance + kLogTwoPi)).sum(-1);
}

}  // namespace deepdyn::core
