#pragma once
// The discrete adjoint of explicit Runge–Kutta steps, swept in reverse with the field's own
// vector-Jacobian product (SolveOptions::vjp) and no autograd tape: the Direct gradient's
// backward (gradients/tapeless.cpp) over the whole solve, and the Checkpointed gradient's over
// each re-run segment (gradients/checkpointed.cpp).
#include <torch/torch.h>

#include <vector>

#include "ode/detail/problem.h"

namespace deepdyn::ode::detail {

/// An accepted step as the sweep needs it (tensor handles: nothing is copied).
struct RecordedStep {
  double t, h, t1;
  torch::Tensor y;
  std::vector<torch::Tensor> k;
  bool ends_at_jump;
};

/// An integrator observer that appends every accepted step to `steps`.
StepObserver record_into(std::vector<RecordedStep>& steps);

/// The cotangent of steps.front().y from ybar, that of steps.back()'s end state, and g
/// [len(ts), *state], that of the outputs, for the outputs ts[first_output..] the steps wrote
/// (integrate's rule: inside a step from its interpolant, at its end as y1). The steps follow
/// each other; the first one's first stage was evaluated at its start (just past it where
/// `starts_after_jump`), not shared with a step before. Parameter cotangents are added into param_grads
/// (problem.params' order, undefined where not trained), and each VJP counted in `vjps`. Needs
/// tapeless_applies(problem).
torch::Tensor sweep_steps(const Problem& problem, const std::vector<RecordedStep>& steps, const torch::Tensor& g,
                          size_t first_output, bool starts_after_jump, torch::Tensor ybar,
                          std::vector<torch::Tensor>& param_grads, int64_t& vjps);

/// Zeros for the trained parameters, undefined for the others: sweep_steps' param_grads.
std::vector<torch::Tensor> zero_parameter_gradients(const std::vector<torch::Tensor>& params);

}  // namespace deepdyn::ode::detail
