#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace deepdyn::ode {

/// Why a solve stopped.
enum class Status {
  Success,
  MaxStepsReached,    ///< SolveOptions::max_steps steps were taken before the last output time
  StepSizeUnderflow,  ///< the controller asked for a step below min_step or below time resolution
  NonFiniteState,     ///< the state or the field became NaN or infinite
};

/// "success", "max_steps_reached", "step_size_underflow" or "non_finite_state".
const std::string& status_name(Status status);

/// Counters of one solve. Users of these methods live by NFE.
struct Stats {
  int64_t nfe = 0;             ///< field evaluations of the forward solve
  int64_t steps = 0;           ///< steps attempted
  int64_t accepted = 0;        ///< steps accepted
  int64_t rejected = 0;        ///< steps rejected by the error control
  double initial_dt = 0;       ///< first step size tried (signed like the time direction)
  double final_dt = 0;         ///< step size the controller proposes after the last step
  int64_t nfe_backward = 0;    ///< field evaluations of the backward pass (Adjoint, Checkpointed)
  int64_t steps_backward = 0;  ///< steps of the backward pass
};

/// Thrown by solve() when it stops early and SolveOptions::throw_on_failure is set (the default).
/// A c10::Error, like every error deepdyn raises: `catch (const c10::Error&)` catches it too.
class SolveError : public c10::Error {
 public:
  SolveError(Status status, double t, double dt, const std::string& message)
      : c10::Error(c10::SourceLocation{__func__, __FILE__, static_cast<uint32_t>(__LINE__)}, message),
        status_(status),
        t_(t),
        dt_(dt) {}
  Status status() const { return status_; }
  double t() const { return t_; }    ///< time where the solve stopped
  double dt() const { return dt_; }  ///< step size at that time
 private:
  Status status_;
  double t_, dt_;
};

/// Result of solve() on a single-tensor state.
struct Solution {
  torch::Tensor ys;  ///< [len(ts), *y0.shape]; rows past a failure are NaN
  /// Shared with the backward pass, which adds its counts when it runs.
  std::shared_ptr<Stats> stats = std::make_shared<Stats>();
  Status status = Status::Success;
  std::string message;  ///< empty on success, else what happened and what to try
};

/// Result of solve() on a tuple state: ys[i] has shape [len(ts), *y0[i].shape].
struct TupleSolution {
  std::vector<torch::Tensor> ys;
  std::shared_ptr<Stats> stats = std::make_shared<Stats>();
  Status status = Status::Success;
  std::string message;
};

}  // namespace deepdyn::ode
