#pragma once
#include <torch/torch.h>

#include <vector>

namespace deepdyn::ode::detail {

/// y(t0 + x * dt) = sum_j coefficients[j] * x^j on x in [0, 1].
struct StepPolynomial {
  double t0 = 0, dt = 0;
  std::vector<torch::Tensor> coefficients;

  /// Values at the given times (all within the step), stacked: [len(times), *y.shape].
  torch::Tensor evaluate(const std::vector<double>& times) const;
};

StepPolynomial linear_interpolant(double t0, double dt, const torch::Tensor& y0, const torch::Tensor& y1);

/// Cubic Hermite interpolant through (y0, f0) and (y1, f1).
StepPolynomial hermite_interpolant(double t0, double dt, const torch::Tensor& y0, const torch::Tensor& f0,
                                   const torch::Tensor& y1, const torch::Tensor& f1);

/// A method's own continuous extension: y(t0 + x dt) = y0 + dt * sum_i b_i(x) k_i with
/// b_i(x) = sum_j b_theta[i][j] x^j (ButcherTableau::b_theta).
StepPolynomial continuous_extension(double t0, double dt, const torch::Tensor& y0, const std::vector<torch::Tensor>& k,
                                    const std::vector<std::vector<double>>& b_theta);

}  // namespace deepdyn::ode::detail
