#pragma once
#include <torch/torch.h>

#include "deepdyn/ode/options.h"
#include "ode/detail/counting_field.h"

namespace deepdyn::ode::detail {

/// Error tolerances: one pair of scalars, or one entry per element of a flat tuple state.
struct Tolerances {
  double rtol = 0, atol = 0;
  torch::Tensor rtol_elements, atol_elements;  ///< defined only for per-component tolerances
  torch::Tensor error_mask;                    ///< 1 for error-controlled elements; undefined: all are
  int64_t controlled_numel = 0;                ///< number of ones in error_mask
  /// Element counts of a tuple state's components, for ErrorNorm::MaxComponentRms (else empty).
  std::vector<int64_t> component_numels;

  /// atol + rtol * magnitude, in place on `magnitude`.
  torch::Tensor& scale_(torch::Tensor& magnitude) const;
};

/// The norm (SolveOptions::error_norm) of err / (atol + rtol * max(|y0|, |y1|)).
/// One host synchronisation: the accept/reject decision needs the number.
double error_ratio(const torch::Tensor& error, const torch::Tensor& y0, const torch::Tensor& y1, const Tolerances& tol);

/// Hairer's starting step (Hairer, Nørsett & Wanner I, §II.4, "Starting step size"),
/// one extra field evaluation. `order` is the order of the embedded error estimate.
double initial_step(CountingField& f, double t0, const torch::Tensor& y0, const torch::Tensor& f0, int order,
                    const Tolerances& tol);

/// The PID step-size controller of SolveOptions (pcoeff, icoeff, dcoeff): it remembers the error
/// ratios of the last two accepted steps; after a rejection the step never grows and they are kept.
class StepController {
 public:
  StepController(const StepControl& control, int error_order);
  /// The next step size after a step of size `dt` whose error ratio was `ratio`.
  double next(double dt, double ratio, bool accepted);

 private:
  double safety_, min_factor_, max_factor_, max_step_;
  double exponent_now_, exponent_previous_, exponent_before_;  // of r_n, r_{n-1}, r_{n-2}
  double previous_ratio_ = 1.0, ratio_before_ = 1.0;
};

}  // namespace deepdyn::ode::detail
