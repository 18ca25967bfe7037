#include "ode/detail/runge_kutta.h"

#include <cmath>

namespace deepdyn::ode::detail {

torch::Tensor weighted_sum(const torch::Tensor& base, double h, const std::vector<double>& weights,
                           const std::vector<torch::Tensor>& k) {
  torch::Tensor out;
  for (size_t j = 0; j < weights.size(); ++j) {
    if (weights[j] == 0.0) continue;
    const double alpha = h * weights[j];
    if (out.defined())
      out.add_(k[j], alpha);  // `out` is a fresh tensor of this function: in-place is safe for autograd
    else
      out = base.defined() ? base.add(k[j], alpha) : k[j].mul(alpha);
  }
  if (!out.defined()) out = base.defined() ? base.clone() : torch::zeros_like(k[0]);
  return out;
}

RungeKuttaStep runge_kutta_step(const ButcherTableau& tableau, CountingField& f, double t, double h,
                                const torch::Tensor& y, const torch::Tensor& k0, bool left_limit_at_end,
                                StageSolver* stages) {
  const int n_stages = tableau.stages();
  const double t_end = t + h, h_gamma = h * tableau.gamma;
  RungeKuttaStep step;
  step.k.reserve(n_stages);
  step.k.push_back(k0);
  if (tableau.implicit()) stages->start_step(t, y);
  torch::Tensor y_stage;
  for (int i = 1; i < n_stages; ++i) {
    y_stage = weighted_sum(y, h, tableau.a[i], step.k);
    double t_stage = t + tableau.c[i] * h;
    if (tableau.c[i] == 1.0) t_stage = left_limit_at_end ? std::nextafter(t_end, t) : t_end;
    if (!tableau.implicit()) {
      step.k.push_back(f(t_stage, y_stage));
      continue;
    }
    // z = base + h gamma f(t_i, z), from the guess that f(t_i, z) equals the previous stage.
    const auto base = y_stage;
    auto z = stages->solve(f, t_stage, h_gamma, base, base.add(step.k.back(), h_gamma));
    if (!z) {
      step.failed = true;
      return step;
    }
    y_stage = *z;
    // k_i = f(t_i, z_i) by the stage equation, without evaluating f (nor amplifying the Newton
    // error by a stiff Jacobian): Hairer & Wanner II, §IV.8.
    step.k.push_back((y_stage - base).div_(h_gamma));
  }
  // For FSAL methods the last stage's input already is y1.
  step.y1 = tableau.fsal() ? y_stage : weighted_sum(y, h, tableau.b, step.k);
  if (tableau.embedded()) {
    torch::NoGradGuard no_grad;  // the estimate only steers the step size: no graph for it
    step.error = weighted_sum(torch::Tensor(), h, tableau.b_error, step.k);
  }
  return step;
}

}  // namespace deepdyn::ode::detail
