#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "deepdyn/core/outcome.h"

namespace deepdyn::deq {

/// Plain fixed-point iteration z <- z + damping (f(z) - z). Converges when f is a contraction.
struct Picard {
  TORCH_ARG(double, damping) = 1.0;  ///< in (0, 1]; 1 is the undamped iteration z <- f(z)
};

/// Anderson acceleration (Anderson 1965; Walker & Ni 2011): the next iterate mixes the last
/// `memory` iterates with weights alpha that minimise ||sum_i alpha_i (f(z_i) - z_i)|| subject to
/// sum alpha = 1; z <- beta sum alpha_i f(z_i) + (1 - beta) sum alpha_i z_i. Solved in Walker & Ni's
/// unconstrained form on differences of iterates, which keeps its accuracy at tight tolerances; a
/// sample whose residual grows forgets its history and takes the plain step z + beta (f(z) - z).
struct Anderson {
  TORCH_ARG(int64_t, memory) = 5;    ///< m >= 1 past iterates (m - 1 differences; 1 is the plain step)
  TORCH_ARG(double, lambda) = 1e-4;  ///< Tikhonov term of the least squares, relative to its scale; pulls toward the plain step
  TORCH_ARG(double, beta) = 1.0;     ///< mixing in (0, 1]
};

/// Broyden's "good" method on g(z) = f(z) - z with the inverse Jacobian kept in limited-memory
/// low-rank form B = -I + U V^T (never a dense matrix), updated by the seed's rank-one formula
///   B+ = B + (dz - B dg) dz^T B / (dz^T B dg).
struct Broyden {
  TORCH_ARG(int64_t, memory) = 30;       ///< rank-one terms kept; the oldest is overwritten when full
  TORCH_ARG(bool, line_search) = false;  ///< backtracking (Armijo) on ||g||^2 along each Newton step
};

using Method = std::variant<Picard, Anderson, Broyden>;

/// "picard", "anderson", "broyden", in the variant's order.
const std::vector<std::string>& method_names();
/// The alternative's name, whatever its settings.
const std::string& method_name(const Method& method);
/// Parses one of method_names() (default settings); an unknown name is refused with the valid list.
Method parse_method(const std::string& name);

/// What the stopping test measures, per sample.
enum class ResidualNorm {
  Absolute,  ///< ||f(z) - z||
  Relative,  ///< ||f(z) - z|| / ||f(z)||
};

/// Options of a fixed-point solve. How it ends is a core::Termination: Success when every sample's
/// residual is at or below tol; MaxSteps after max_iterations; NonFinite when f returns NaN or
/// infinity; Diverged when a sample's residual grew past divergence_ratio times its first residual,
/// or (relative rule) reached tol mostly because ||f(z)|| grew: ||f(z) - z|| ||f(z)|| above its value
/// at z0, as when z runs off to where f(z) ~ z and f has no fixed point.
struct FixedPointOptions {
  /* implicit */ FixedPointOptions(Method method = Broyden{}) : method_(std::move(method)) {}
  TORCH_ARG(Method, method);
  TORCH_ARG(double, tol) = 1e-6;
  TORCH_ARG(ResidualNorm, stop_on) = ResidualNorm::Relative;
  TORCH_ARG(int64_t, max_iterations) = 50;
  TORCH_ARG(double, divergence_ratio) = 1e8;
  /// Throw core::SolverError when the solve ends other than Success. Off by default, unlike an ODE
  /// solve's: a fixed-point solve that stops early still returns its best finite iterate, which a DEQ
  /// in training uses as TorchDEQ does.
  TORCH_ARG(bool, throw_on_failure) = false;

  // (TORCH_ARG leaves the access private.)
 public:
  /// Refuses inconsistent values with a message that names the setting and what to do.
  void validate() const;
};

/// Residuals of a fixed-point solve, per sample (the first dimension is the batch).
struct Residuals {
  torch::Tensor absolute;        ///< [batch] ||f(z) - z|| at the returned iterate
  torch::Tensor relative;        ///< [batch] ||f(z) - z|| / ||f(z)|| at the returned iterate
  torch::Tensor absolute_trace;  ///< [iterations + 1, batch] residual of every iterate
  torch::Tensor relative_trace;  ///< [iterations + 1, batch]
};

struct FixedPointResult {
  /// Per sample, the iterate with the smallest residual seen (finite even on failure); under the relative
  /// rule, among those with ||f(z) - z|| ||f(z)|| at or below its value at z0 (see FixedPointOptions).
  torch::Tensor z;
  core::Stats stats;  ///< nfe, steps (iterations), termination and, on failure, what to try
  Residuals residuals;
};

using FixedPointMap = std::function<torch::Tensor(const torch::Tensor& z)>;

/// Solves z = f(z) from z0 over a batch (dimension 0 indexes independent samples). Runs under the
/// caller's grad mode; the DEQ layer calls it under NoGradGuard. One host synchronisation per
/// iteration decides whether to stop.
FixedPointResult solve_fixed_point(const FixedPointMap& f, const torch::Tensor& z0,
                                   const FixedPointOptions& options = {});

}  // namespace deepdyn::deq
