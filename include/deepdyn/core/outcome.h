#pragma once
// How a solve ended and what it cost: one vocabulary for ODE solves, fixed-point iterations and
// the models built on them (as diffrax's RESULTS and stats), and the one error they throw.
#include <c10/util/Exception.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace deepdyn::core {

/// Why a solve stopped.
enum class Termination {
  Success,            ///< ODE: reached the last output time; fixed point: every sample at or below tol
  MaxSteps,           ///< the budget ran out first: max_steps (ODE) or max_iterations (fixed point)
  StepSizeUnderflow,  ///< ODE: the controller asked for a step below min_step or the time resolution
  NonFinite,          ///< the state or the function's value became NaN or infinite
  Diverged,           ///< fixed point: the residual grew instead of falling (see deq::solve_fixed_point)
  NoConvergence,      ///< ODE, implicit method on a fixed grid: a stage's Newton iteration did not converge
};

/// "success", "max_steps", "step_size_underflow", "non_finite", "diverged", "no_convergence".
const std::string& termination_name(Termination termination);
/// What the value means, one sentence without a full stop; a failure's own message says where it
/// happened and what to try.
const std::string& termination_message(Termination termination);

/// Counters and outcome of one solve: what ode::solve, deq::solve_fixed_point and every model output
/// report. Outputs share it with their backward pass, which adds its own counts when it runs.
struct Stats {
  int64_t nfe = 0;             ///< evaluations of the function: the field f, or the fixed-point map
  int64_t steps = 0;           ///< ODE steps attempted, or fixed-point iterations
  int64_t accepted = 0;        ///< ODE steps accepted (fixed point: every iteration)
  int64_t rejected = 0;        ///< ODE steps rejected by the error control (fixed point: 0)
  double initial_dt = 0;       ///< ODE: the first step size tried (signed like the time direction)
  double final_dt = 0;         ///< ODE: the step size the controller proposes after the last step
  int64_t nfe_backward = 0;    ///< evaluations of the backward pass (adjoint solve, checkpointed re-runs,
                               ///< the DEQ's implicit linear system); 0 for direct backprop, which stores a graph
  int64_t steps_backward = 0;  ///< steps or iterations of the backward pass
  // Implicit ODE methods (forward and backward solves together); 0 for explicit ones.
  int64_t newton_iterations = 0;  ///< Newton iterations of the implicit stages (one evaluation of f each)
  int64_t jacobians = 0;          ///< Jacobians of f evaluated (each one recorded evaluation of f and
                                  ///< a vector-Jacobian product per state element)
  int64_t linear_solves = 0;      ///< solves with the Newton matrix I - h gamma df/dy
  Termination termination = Termination::Success;           ///< of the forward solve
  std::string message;                                      ///< empty on success, else what happened and what to try
  Termination termination_backward = Termination::Success;  ///< of the backward solve, once it ran
  std::string message_backward;

  bool succeeded() const { return termination == Termination::Success && termination_backward == Termination::Success; }
  /// Counts summed, the first failure kept: the stats of solves run one after another (stacked flows).
  Stats& operator+=(const Stats& other);
};

/// The sum of the stats of several solves (a stacked flow's blocks).
Stats total(const std::vector<std::shared_ptr<Stats>>& parts);

/// Thrown by a solve that stops early under throw_on_failure. A c10::Error, like every error deepdyn
/// raises, so `catch (const c10::Error&)` catches it too.
class SolverError : public c10::Error {
 public:
  SolverError(Termination termination, const std::string& message)
      : c10::Error(c10::SourceLocation{__func__, __FILE__, static_cast<uint32_t>(__LINE__)}, message),
        termination_(termination) {}
  Termination termination() const { return termination_; }

 private:
  Termination termination_;
};

}  // namespace deepdyn::core
