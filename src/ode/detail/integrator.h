#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "deepdyn/ode/options.h"
#include "deepdyn/ode/solution.h"
#include "ode/detail/counting_field.h"
#include "ode/detail/events.h"
#include "ode/detail/runge_kutta.h"
#include "ode/detail/step_control.h"

namespace deepdyn::ode::detail {

/// What the integrator hands back; times are its own (increasing) times.
struct Integration {
  std::vector<torch::Tensor> ys;  ///< one per output time reached
  core::Stats stats;              ///< counts and termination (the message is written by the gradient strategy)
  double t_stop = 0;              ///< where a failure happened
  double dt_stop = 0;             ///< step size at the failure
  double error_ratio = 0;         ///< last error ratio at the failure
  /// Crossings of SolveOptions::event; a terminal one ends the integration early, with success
  /// and only the outputs up to the step it stopped in.
  std::vector<EventHit> events;
};

/// An accepted step from (t, y) to (t1, step.y1), t1 = t + h up to rounding.
struct AcceptedStep {
  double t, h, t1;
  const torch::Tensor& y;
  const RungeKuttaStep& step;
  bool ends_at_jump;  ///< t1 is a jump_ts time: the next step's first stage is sampled just past it
};

/// Called after every accepted step.
using StepObserver = std::function<void(const AcceptedStep&)>;

/// Integrates on strictly increasing `ts` (solve() maps decreasing time onto this),
/// with options already validated. Adaptive unless the options give a fixed grid or
/// the method has no embedded pair.
Integration integrate(CountingField& f, const torch::Tensor& y0, const std::vector<double>& ts,
                      const SolveOptions& options, const Tolerances& tol, const StepObserver& observer = nullptr);

/// Re-runs accepted steps on the given grid (grid.front() is y0's time) with the
/// same stages, jump handling and interpolants as `integrate` used, so that the
/// result and its autograd graph are those of the original solve. Returns the
/// outputs at `outputs` (all within (grid.front(), grid.back()]) followed by the
/// state at grid.back(). `starts_after_jump`: the step that ended at grid.front() ended at a
/// jump_ts time, so the first stage is sampled just past it, as the solve sampled it.
std::vector<torch::Tensor> replay(CountingField& f, const torch::Tensor& y0, const std::vector<double>& grid,
                                  const std::vector<double>& outputs, const SolveOptions& options,
                                  const Tolerances& tol, bool starts_after_jump,
                                  const StepObserver& observer = nullptr);

}  // namespace deepdyn::ode::detail
