#pragma once
// A solve as the gradient strategies see it: validated, in the integrator's
// increasing time, on a single (possibly flattened) state tensor.
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "deepdyn/ode/solve.h"
#include "ode/detail/integrator.h"
#include "ode/detail/step_control.h"

namespace deepdyn::ode::detail {

struct Problem {
  Field field;                ///< in solver time s = direction * t
  torch::Tensor ts;           ///< the user's output times (gradients go to it)
  std::vector<double> times;  ///< solver times, strictly increasing
  double direction = 1.0;     ///< +1 when ts increases, -1 when it decreases
  SolveOptions options;       ///< with every time option in solver time
  Tolerances tol;
  std::vector<torch::Tensor> params;  ///< what Adjoint and Checkpointed differentiate
  FieldVJP vjp;                       ///< SolveOptions::vjp in solver time, or null

  CountingField counting_field(const torch::Tensor& like) const { return CountingField(field, like.options()); }
};

/// The outputs of an integration as one tensor [len(times), *y0.shape], its counts and termination
/// added to `stats`. A failed solve throws SolveError, or (throw_on_failure off) fills missing rows
/// with NaN.
torch::Tensor finish(const Problem& problem, Integration& integration, core::Stats& stats);

// The three gradient strategies. Each returns ys [len(ts), *y0.shape] and fills `stats`
// (the backward pass of Adjoint and Checkpointed adds its counts later).
torch::Tensor solve_direct(const Problem& problem, const torch::Tensor& y0, const std::shared_ptr<core::Stats>& stats);
torch::Tensor solve_adjoint(const Problem& problem, const torch::Tensor& y0, const std::shared_ptr<core::Stats>& stats,
                            const Adjoint& adjoint);
/// The Direct gradient without a tape, for an explicit method and a field with a vjp, where
/// tapeless_applies(problem).
bool tapeless_applies(const Problem& problem);
torch::Tensor solve_tapeless(const Problem& problem, const torch::Tensor& y0,
                             const std::shared_ptr<core::Stats>& stats);
torch::Tensor solve_checkpointed(const Problem& problem, const torch::Tensor& y0,
                                 const std::shared_ptr<core::Stats>& stats, const Checkpointed& checkpointed);

/// The problem solved with its gradient strategy (SolveOptions::gradient); events are not watched.
torch::Tensor solve_problem(const Problem& problem, const torch::Tensor& y0, const std::shared_ptr<core::Stats>& stats);

/// A solve that watches SolveOptions::event: the events are located by a solve without autograd;
/// when gradients may be needed, a second solve with the gradient strategy gives the outputs and
/// the states at the event times with their graph, and the implicit function theorem the event
/// times' derivatives. Outputs past a terminal event hold the state at the event.
Solution solve_with_events(const Problem& problem, const torch::Tensor& y0);

/// The parameters that receive gradients (those that require them).
std::vector<torch::Tensor> trainable(const std::vector<torch::Tensor>& params);

/// One gradient per entry of `params` for an autograd Function's backward: the next of
/// `trained` (gradients of trainable(params), in order; undefined means zero) for trainable
/// parameters, undefined for the others.
torch::autograd::variable_list parameter_gradients(const std::vector<torch::Tensor>& params,
                                                   const std::vector<torch::Tensor>& trained);

/// Gradients with respect to the output times for strategies that differentiate the discrete
/// solve (Direct, Checkpointed): moving t_i moves y(t_i) along f, moving t_0 shifts the start,
///   dL/dt_i = g_i . f(t_i, y_i) (i > 0),   dL/dt_0 = -a(t_0) . f(t_0, y_0).
/// `start` gives the y0 to integrate from (equal to y0 in value); `outputs` re-attaches ys.
struct TimeGradients {
  TimeGradients(const Problem& problem, const torch::Tensor& y0, core::Stats& stats);
  torch::Tensor start() const { return start_; }
  torch::Tensor outputs(const torch::Tensor& ys) const;

 private:
  const Problem& problem_;
  core::Stats& stats_;
  torch::Tensor start_;
  torch::Tensor shift_;  ///< direction * (ts - ts.detach()): zero in value, carries ts's gradient
};

}  // namespace deepdyn::ode::detail
