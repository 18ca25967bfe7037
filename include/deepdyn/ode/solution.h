#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "deepdyn/core/outcome.h"

namespace deepdyn::ode {

/// Thrown by solve() when it stops early and SolveOptions::throw_on_failure is set (the default):
/// a core::SolverError that also says where.
class SolveError : public core::SolverError {
 public:
  SolveError(core::Termination termination, double t, double dt, const std::string& message)
      : core::SolverError(termination, message), t_(t), dt_(dt) {}
  double t() const { return t_; }    ///< time where the solve stopped
  double dt() const { return dt_; }  ///< step size at that time
 private:
  double t_, dt_;
};

/// One crossing of an Event, in time order.
struct EventCrossing {
  torch::Tensor t;    ///< 0-d event time, differentiable (implicit function theorem)
  torch::Tensor y;    ///< the state at t, differentiable; with Event::rows, the row's state
  int64_t index = 0;  ///< which element of the event function crossed zero (the row, with Event::rows)
};

/// Result of solve() on a single-tensor state.
struct Solution {
  torch::Tensor ys;  ///< [len(ts), *y0.shape]; rows past a failure are NaN, past a terminal event its state
  std::vector<EventCrossing> events;  ///< the crossings of SolveOptions::event
  /// Counts and termination (rows past a failure are NaN when throw_on_failure is off); shared with
  /// the backward pass, which adds its counts when it runs.
  std::shared_ptr<core::Stats> stats = std::make_shared<core::Stats>();
};

/// Result of solve() on a tuple state: ys[i] has shape [len(ts), *y0[i].shape].
struct TupleSolution {
  std::vector<torch::Tensor> ys;
  std::shared_ptr<core::Stats> stats = std::make_shared<core::Stats>();
};

}  // namespace deepdyn::ode
