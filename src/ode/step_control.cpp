#include "ode/detail/step_control.h"

#include <ATen/Dispatch.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/detail/cpu_features.h"
#include "ode/detail/step_kernels.h"

namespace deepdyn::ode::detail {
namespace {

// RMS of x / scale over the error-controlled elements, or with component_numels the largest RMS
// of one component. Dot products, not mean(square): on the small states of neural ODEs a BLAS dot
// costs a fraction of a reduction kernel's launch. One host synchronisation: every caller
// branches on the number.
double rms_scaled(const torch::Tensor& x, const torch::Tensor& scale, const Tolerances& tol) {
  auto r = x.div(scale).reshape(-1);
  if (tol.error_mask.defined()) r.mul_(tol.error_mask);
  if (tol.component_numels.empty()) {
    const auto controlled = tol.error_mask.defined() ? tol.controlled_numel : r.numel();
    return std::sqrt(r.dot(r).item<double>() / static_cast<double>(controlled));
  }
  std::vector<torch::Tensor> mean_squares;
  int64_t offset = 0;
  for (const int64_t numel : tol.component_numels) {
    auto component = r.narrow(0, offset, numel);
    mean_squares.push_back(component.dot(component).div(static_cast<double>(std::max<int64_t>(numel, 1))));
    offset += numel;
  }
  return std::sqrt(torch::stack(mean_squares).max().item<double>());
}

/// error_ratio with scalar tolerances on contiguous CPU tensors of one floating dtype: one
/// vectorised pass over memory (scaled_square_sum), where the general path takes seven LibTorch
/// operations.
std::optional<double> rms_ratio_in_one_pass(const torch::Tensor& error, const torch::Tensor& y0,
                                            const torch::Tensor& y1, const Tolerances& tol) {
  auto fits = [&](const torch::Tensor& x) {
    return x.device().is_cpu() && x.scalar_type() == error.scalar_type() && x.sizes() == error.sizes() &&
           x.is_contiguous();
  };
  const auto& mask = tol.error_mask;
  if (!core::detail::cpu_has_avx2_fma() || tol.rtol_elements.defined() || !tol.component_numels.empty() ||
      error.numel() == 0 || !(error.scalar_type() == at::kFloat || error.scalar_type() == at::kDouble) ||
      !fits(error) || !fits(y0) || !fits(y1) || (mask.defined() && !fits(mask)))
    return std::nullopt;
  double sum = 0;
  AT_DISPATCH_FLOATING_TYPES(error.scalar_type(), "error_ratio", [&] {
    sum = scaled_square_sum<scalar_t>(error.data_ptr<scalar_t>(), y0.data_ptr<scalar_t>(), y1.data_ptr<scalar_t>(),
                                      mask.defined() ? mask.data_ptr<scalar_t>() : nullptr, tol.rtol, tol.atol,
                                      error.numel());
  });
  const auto controlled = mask.defined() ? tol.controlled_numel : error.numel();
  return std::sqrt(sum / static_cast<double>(std::max<int64_t>(controlled, 1)));
}

}  // namespace

torch::Tensor& Tolerances::scale_(torch::Tensor& magnitude) const {
  if (rtol_elements.defined()) return magnitude.mul_(rtol_elements).add_(atol_elements);
  return magnitude.mul_(rtol).add_(atol);
}

double error_ratio(const torch::Tensor& error, const torch::Tensor& y0, const torch::Tensor& y1,
                   const Tolerances& tol) {
  if (const auto ratio = rms_ratio_in_one_pass(error, y0, y1, tol)) return *ratio;
  torch::NoGradGuard no_grad;
  auto scale = torch::maximum(y0.abs(), y1.abs());
  return rms_scaled(error, tol.scale_(scale), tol);
}

double initial_step(CountingField& f, double t0, const torch::Tensor& y0, const torch::Tensor& f0, int order,
                    const Tolerances& tol) {
  torch::NoGradGuard no_grad;
  auto scale = y0.abs();
  tol.scale_(scale);
  const double d0 = rms_scaled(y0, scale, tol);
  const double d1 = rms_scaled(f0, scale, tol);
  const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
  auto y1 = y0.add(f0, h0);
  auto f1 = f(t0 + h0, y1);
  const double d2 = rms_scaled(f1 - f0, scale, tol) / h0;
  const double dmax = std::max(d1, d2);
  const double h1 = dmax <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / dmax, 1.0 / (order + 1));
  return std::min(100 * h0, h1);
}

StepController::StepController(const StepControl& control, int error_order)
    : safety_(control.safety()),
      min_factor_(control.min_factor()),
      max_factor_(control.max_factor()),
      max_step_(control.max_step()),
      exponent_now_(-(control.pcoeff() + control.icoeff() + control.dcoeff()) / (error_order + 1)),
      exponent_previous_((control.pcoeff() + 2 * control.dcoeff()) / (error_order + 1)),
      exponent_before_(-control.dcoeff() / (error_order + 1)) {}

double StepController::next(double dt, double ratio, bool accepted) {
  const double err = std::max(ratio, 1e-10);  // an exact step must not ask for an infinite one
  double factor = safety_ * std::pow(err, exponent_now_);
  if (accepted) {
    if (exponent_previous_ != 0) factor *= std::pow(previous_ratio_, exponent_previous_);
    if (exponent_before_ != 0) factor *= std::pow(ratio_before_, exponent_before_);
    ratio_before_ = previous_ratio_;
    previous_ratio_ = err;
  }
  factor = accepted ? std::clamp(factor, 1.0, max_factor_) : std::clamp(factor, min_factor_, 1.0);
  return std::min(dt * factor, max_step_);
}

}  // namespace deepdyn::ode::detail
