#pragma once
// Small pieces of math every layer uses, written once.
#include <torch/torch.h>

namespace deepdyn::core {

/// log(2 pi).
inline constexpr double kLogTwoPi = 1.8378770664093453;

/// Per-sample squared Euclidean norm over all but the first dimension: x [batch, ...] -> [batch].
torch::Tensor squared_row_norm(const torch::Tensor& x);

/// log N(z; mean, diag(exp(log_variance))) summed over the last dimension.
torch::Tensor diagonal_gaussian_log_density(const torch::Tensor& z, const torch::Tensor& mean,
                                            const torch::Tensor& log_variance);

}  // namespace deepdyn::core
