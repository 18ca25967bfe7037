#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>

#include "deepdyn/core/mlp.h"
#include "deepdyn/core/trace.h"
#include "deepdyn/ode/options.h"
#include "deepdyn/ode/solution.h"
#include "deepdyn/ode/solve.h"

namespace deepdyn::cnf {

using core::Noise;
using core::TraceEstimator;

struct FlowOptions {
  TORCH_ARG(TraceEstimator, trace) = TraceEstimator::Hutchinson;
  TORCH_ARG(Noise, noise) = Noise::Gaussian;
  /// Also integrate RNODE's kinetic energy and Jacobian Frobenius integrals.
  TORCH_ARG(bool, regularize) = false;
  /// The ODE solve (params must name what Adjoint/Checkpointed gradients differentiate).
  TORCH_ARG(ode::SolveOptions, solver) = ode::SolveOptions().rtol(1e-5).atol(1e-5);
};

/// End of one integration of the augmented state [z, delta_logp(, E_K, E_J)].
struct FlowResult {
  torch::Tensor z;           ///< [batch, dim] at ts[1]
  torch::Tensor delta_logp;  ///< [batch] integral of -tr(df/dz) from ts[0] to ts[1]
  torch::Tensor kinetic;     ///< [batch] integral of ||f||^2 (when regularize)
  torch::Tensor jacobian;    ///< [batch] integral of ||e^T df/dz||^2, or ||df/dz||_F^2 with the exact trace
  std::shared_ptr<core::Stats> stats;
};

/// What DivergenceField::vjp returns.
struct DivergenceVJP {
  torch::Tensor z, t;         ///< the cotangents of z and of the (0-d) time
  core::MLPDivergence value;  ///< evaluate's result, when asked for
};

/// A field that gives its divergence itself, as ODENet does by forward mode: f(t, z) with
/// tr(df/dz) and ||df/dz||_F^2 when probe is undefined, else e^T (df/dz) e and an unbiased
/// estimate of ||df/dz||_F^2 for the probe e (core::mlp_divergence's conventions). A struct, not a
/// bare std::function, so that no plain field converts to it (a module holder's call operator
/// accepts any arguments until it is instantiated).
struct DivergenceField {
  std::function<core::MLPDivergence(const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& probe)>
      evaluate;
  /// Optional: the vector-Jacobian product of (f, divergence) at (t, z) for the cotangents v (z's
  /// shape) and w ([batch]): z's and t's cotangents, and (with_value) evaluate's result; the
  /// parameters' are added into param_grads, which follow `parameters`. integrate_flow uses it
  /// (ode::SolveOptions::vjp) when the solver's params are `parameters` and RNODE's integrals are off.
  std::function<DivergenceVJP(const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& probe,
                              const torch::Tensor& v, const torch::Tensor& w,
                              const std::vector<torch::Tensor>& param_grads, bool with_value)>
      vjp;
  std::vector<torch::Tensor> parameters;
};

/// Integrates the change of variables d/dt [z, log p] = [f(t, z), -tr(df/dz)] (Chen et al. 2018,
/// Theorem 1) from ts[0] to ts[1] (either direction; ts may require grad, e.g. a learnable end time).
/// The Jacobian regularizer reuses the trace's vector-Jacobian product, so it costs one reduction.
FlowResult integrate_flow(const ode::Field& f, const torch::Tensor& z0, const torch::Tensor& ts,
                          const FlowOptions& options = {});

/// The same for a field that gives its divergence: no autograd pass per evaluation. With
/// Hutchinson's estimator the Jacobian regularizer is ||(df/dz) e||^2 here (forward mode), which
/// estimates ||df/dz||_F^2 as ||e^T df/dz||^2 does.
FlowResult integrate_flow(const DivergenceField& f, const torch::Tensor& z0, const torch::Tensor& ts,
                          const FlowOptions& options = {});

/// log N(z; 0, I) per sample.
torch::Tensor standard_normal_log_density(const torch::Tensor& z);

}  // namespace deepdyn::cnf
