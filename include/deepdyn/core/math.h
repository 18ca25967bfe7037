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

/// The shift and scale that standardise data x [n, d] (n >= 2) column by column: the mean and the
/// standard deviation, 1 where a column does not vary. x = shift + scale * z for z of mean 0 and
/// deviation 1; densities follow as log p(x) = log p(z) - sum(log scale).
std::pair<torch::Tensor, torch::Tensor> standardization(const torch::Tensor& x);

/// Whether every element of x is finite (no NaN, no Inf). A host synchronisation; one pass over
/// memory for a contiguous float32 or float64 CPU tensor, where isfinite(x).all() costs a few
/// LibTorch operations (tens of microseconds, a visible part of a small solve).
bool all_finite(const torch::Tensor& x);

}  // namespace deepdyn::core
