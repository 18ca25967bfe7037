#pragma once
#include <torch/torch.h>

#include <optional>

#include "deepdyn/core/outcome.h"
#include "deepdyn/ode/options.h"
#include "ode/detail/counting_field.h"
#include "ode/detail/step_control.h"

namespace deepdyn::ode::detail {

/// Solves the stage equations of an implicit (ESDIRK) step, z = base + h gamma f(t, z), by the
/// simplified Newton iteration of NewtonOptions. One solver lives through a whole integration: it
/// keeps the Jacobian and the LU factors of I - h gamma J across stages and steps, and counts its
/// work (Newton iterations, Jacobians, linear solves) into the integration's stats.
class StageSolver {
 public:
  StageSolver(const NewtonOptions& options, const Tolerances& tol, core::Stats& stats)
      : options_(options), tol_(tol), stats_(stats) {}

  /// A step starts at (t, y): a Jacobian taken later is taken here.
  void start_step(double t, const torch::Tensor& y);

  /// The stage value z at time t, starting from `guess`; nullopt when Newton fails even with a
  /// Jacobian taken at this step's start. Under autograd, z carries the implicit function
  /// theorem's derivative dz = (I - h gamma df/dz)^{-1} (dbase + h gamma df/dtheta dtheta), the
  /// exact derivative of the discrete stage equation (one more recorded evaluation and Jacobian at z).
  std::optional<torch::Tensor> solve(CountingField& f, double t, double h_gamma, const torch::Tensor& base,
                                     const torch::Tensor& guess);

 private:
  /// Newton from `guess` with the current factors; nullopt when it diverges or is too slow.
  std::optional<torch::Tensor> iterate(CountingField& f, double t, double h_gamma, const torch::Tensor& base,
                                       torch::Tensor z);
  void refresh_jacobian(CountingField& f);
  void factor(double h_gamma);

  NewtonOptions options_;
  const Tolerances& tol_;
  core::Stats& stats_;
  double step_t_ = 0;
  torch::Tensor step_y_;
  torch::Tensor jacobian_;         ///< [N, N] df/dy, undefined until first needed
  bool jacobian_is_fresh_ = false;  ///< taken at the current step's start
  double factored_h_gamma_ = 0;    ///< the h gamma of lu_ (0: none)
  torch::Tensor lu_, pivots_;
  double eta_ = 1.0;  ///< Hairer's eta, carried from one stage to the next
};

/// The Jacobian df/dy at (t, y) as a dense [N, N] matrix (N = y.numel()) by N vector-Jacobian
/// products through one recorded evaluation.
torch::Tensor dense_jacobian(CountingField& f, double t, const torch::Tensor& y);

}  // namespace deepdyn::ode::detail
