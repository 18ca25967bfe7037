// The Direct gradient: autograd records every step. Also the pieces every strategy shares.
#include <cmath>
#include <optional>
#include <sstream>

#include "deepdyn/core/mlp.h"
#include "ode/detail/problem.h"

namespace deepdyn::ode::detail {
namespace {

std::string failure_message(const Integration& r, double direction, double t_end, bool fixed_step) {
  std::ostringstream m;
  m << "ode::solve stopped at t = " << r.t_stop * direction << " with dt = " << r.dt_stop * direction
    << " before reaching t = " << t_end * direction << ": ";
  switch (r.stats.termination) {
    case core::Termination::MaxSteps:
      m << "max_steps (" << r.stats.steps << ") reached. Raise SolveOptions::max_steps, "
        << (fixed_step ? "or take a larger step_size." : "loosen rtol/atol, or check whether the problem is stiff.");
      break;
    case core::Termination::StepSizeUnderflow:
      m << "the step size underflowed (last error ratio " << r.error_ratio
        << ") without meeting the tolerance. Loosen rtol/atol, pass known discontinuities as jump_ts, "
        << "or check the field near this time.";
      break;
    case core::Termination::NonFinite:
      m << "the state or the field became NaN or Inf. The solution may blow up here: check the field near "
        << "this time, shorten the interval, or lower first_step.";
      break;
    case core::Termination::NoConvergence:
      m << "a stage's Newton iteration did not converge on the fixed grid. Take a smaller step_size, or an "
        << "adaptive implicit method, which shrinks the step where Newton fails.";
      break;
    case core::Termination::Success:
    case core::Termination::Diverged:  // fixed points only
      break;
  }
  return m.str();
}

}  // namespace

torch::Tensor finish(const Problem& problem, Integration& r, core::Stats& stats) {
  stats += r.stats;
  stats.initial_dt = r.stats.initial_dt * problem.direction;
  stats.final_dt = r.stats.final_dt * problem.direction;
  auto ys = torch::stack(r.ys);  // r.ys always holds at least y0
  if (r.stats.termination == core::Termination::Success) return ys;

  stats.message = failure_message(r, problem.direction, problem.times.back(), problem.options.step_size().has_value());
  if (problem.options.throw_on_failure())
    throw SolveError(r.stats.termination, r.t_stop * problem.direction, r.dt_stop * problem.direction, stats.message);
  // Rows the solve did not reach are NaN.
  auto pad_shape = ys.sizes().vec();
  pad_shape[0] = static_cast<int64_t>(problem.times.size() - r.ys.size());
  return pad_shape[0] > 0 ? torch::cat({ys, torch::full(pad_shape, NAN, ys.options())}) : ys;
}

std::vector<torch::Tensor> trainable(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params)
    if (p.requires_grad()) out.push_back(p);
  return out;
}

torch::autograd::variable_list parameter_gradients(const std::vector<torch::Tensor>& params,
                                                   const std::vector<torch::Tensor>& trained) {
  torch::autograd::variable_list grads;
  size_t next = 0;
  for (const auto& p : params) {
    if (!p.requires_grad()) {
      grads.emplace_back();
      continue;
    }
    const auto& g = trained[next++];
    grads.push_back(g.defined() ? g : torch::zeros_like(p));
  }
  return grads;
}

TimeGradients::TimeGradients(const Problem& problem, const torch::Tensor& y0, core::Stats& stats)
    : problem_(problem), stats_(stats), start_(y0) {
  if (!problem.ts.requires_grad()) return;
  shift_ = (problem.ts - problem.ts.detach()).to(y0.scalar_type()).mul(problem.direction);
  torch::Tensor f0;
  {
    torch::NoGradGuard no_grad;
    f0 = problem.field(torch::scalar_tensor(problem.times[0], y0.options()), y0.detach());
  }
  ++stats_.nfe;
  start_ = y0 - shift_[0] * f0;
}

torch::Tensor TimeGradients::outputs(const torch::Tensor& ys) const {
  if (!shift_.defined()) return ys;
  std::vector<torch::Tensor> slopes;
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < problem_.times.size(); ++i)
      slopes.push_back(problem_.field(torch::scalar_tensor(problem_.times[i], ys.options()), ys[i].detach()));
  }
  stats_.nfe += static_cast<int64_t>(slopes.size());
  auto shape = std::vector<int64_t>(ys.dim(), 1);
  shape[0] = ys.size(0);
  return ys + shift_.view(shape) * torch::stack(slopes);
}

torch::Tensor solve_direct(const Problem& problem, const torch::Tensor& y0, const std::shared_ptr<core::Stats>& stats) {
  if (torch::GradMode::is_enabled() && tapeless_applies(problem)) return solve_tapeless(problem, y0, stats);
  TimeGradients time_gradients(problem, y0, *stats);
  auto f = problem.counting_field(y0);
  // A graph of the whole solve lives until its backward: fused fields recompute their activations
  // there rather than store every evaluation's. (Without grad mode, as in the adjoint's backward
  // solve, a field that records a graph uses it at once.)
  std::optional<core::RecomputeActivationsGuard> recompute;
  if (torch::GradMode::is_enabled()) recompute.emplace();
  auto r = integrate(f, time_gradients.start(), problem.times, problem.options, problem.tol);
  return time_gradients.outputs(finish(problem, r, *stats));
}

}  // namespace deepdyn::ode::detail
