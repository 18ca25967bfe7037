#pragma once
#include <torch/torch.h>

#include <vector>

#include "deepdyn/ode/tableau.h"
#include "ode/detail/counting_field.h"
#include "ode/detail/newton.h"

namespace deepdyn::ode::detail {

/// base + h * sum_j weights[j] * k[j], skipping zero weights. `base` may be undefined (then 0).
torch::Tensor weighted_sum(const torch::Tensor& base, double h, const std::vector<double>& weights,
                           const std::vector<torch::Tensor>& k);

struct RungeKuttaStep {
  torch::Tensor y1;
  torch::Tensor error;           ///< undefined for methods without an embedded pair
  std::vector<torch::Tensor> k;  ///< the stages; for FSAL methods k.back() == f(t + h, y1)
  bool failed = false;           ///< an implicit stage's Newton iteration failed: nothing else is set
};

/// The time of stage i of a step from t to t + h: t + c_i h, and a stage at c_i == 1 of a step that
/// ends at a discontinuity just before t + h (`left_limit_at_end`).
double stage_time(const ButcherTableau& tableau, int i, double t, double h, bool left_limit_at_end);

/// One Runge–Kutta step from (t, y) with first stage k0 = f(t, y); implicit methods solve their
/// stages with `stages` (required for them, unused otherwise).
/// `left_limit_at_end`: stages at c == 1 are evaluated just before t + h (the step ends at a
/// discontinuity of the field, which must not be sampled from its far side).
RungeKuttaStep runge_kutta_step(const ButcherTableau& tableau, CountingField& f, double t, double h,
                                const torch::Tensor& y, const torch::Tensor& k0, bool left_limit_at_end,
                                StageSolver* stages = nullptr);

}  // namespace deepdyn::ode::detail
