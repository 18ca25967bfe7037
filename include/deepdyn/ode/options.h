#pragma once
#include <torch/torch.h>

#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "deepdyn/ode/method.h"

namespace deepdyn::ode {

/// How outputs between grid points of a fixed-grid solve are computed.
enum class Interpolation { Linear, CubicHermite };

/// The error norm of the adjoint's backward solve.
enum class AdjointNorm {
  Full,      ///< every component of [z, a, a_theta, a_t] is error-controlled
  Seminorm,  ///< a_theta and a_t are left out of error control (Kidger, Chen & Lyons 2021)
};

// How gradients reach y0, ts and the parameters: one struct per strategy, carrying its own settings
// (as diffrax's adjoints), chosen by SolveOptions::gradient.

/// Autograd through every step: the exact gradient of the discrete solve; memory grows with the steps.
struct Direct {};

/// The continuous adjoint (Chen et al. 2018): the augmented state [z, a, a_theta, a_t] integrated
/// backward; O(1) memory in the number of steps. Unset solver settings take the forward's.
struct Adjoint {
  TORCH_ARG(std::optional<Method>, method) = std::nullopt;
  TORCH_ARG(std::optional<double>, rtol) = std::nullopt;
  TORCH_ARG(std::optional<double>, atol) = std::nullopt;
  TORCH_ARG(AdjointNorm, norm) = AdjointNorm::Full;
};

/// The exact discrete gradient with O(sqrt(steps)) memory: segments re-run from checkpoints.
struct Checkpointed {
  TORCH_ARG(int64_t, checkpoints) = 0;  ///< states kept; 0 chooses about sqrt(number of steps)
};

using Gradient = std::variant<Direct, Adjoint, Checkpointed>;

/// "direct", "adjoint", "checkpointed", in the variant's order: the names users write at the boundary
/// (CLI, config, Python).
const std::vector<std::string>& gradient_names();
/// The alternative's name, whatever its settings.
const std::string& gradient_name(const Gradient& gradient);
/// Parses one of gradient_names() (default settings); an unknown name is refused with the valid list.
Gradient parse_gradient(const std::string& name);

/// The adaptive step-size controller: a PID controller (Söderlind 2003, as diffrax's PIDController),
/// r = error ratio of the last steps, k = embedded order + 1:
///   dt_new = dt * safety * r_n^(-(p + i + d)/k) * r_{n-1}^((p + 2d)/k) * r_{n-2}^(-d/k),
/// the factor clamped to [min_factor, 1] after a rejected step and to [1, max_factor] after an
/// accepted one (an accepted step never shrinks the next, as in torchdiffeq and diffrax).
/// The defaults are an I controller, torchdiffeq's and diffrax's: on neural-ODE fields it takes
/// fewer steps than a PI controller at the same accuracy. Hairer's PI controller (beta1 0.7,
/// beta2 0.4; Hairer & Wanner II, §IV.2) is pcoeff 0.4, icoeff 0.3.
struct StepControl {
  /// Initial step size; by default chosen by Hairer's algorithm (Hairer, Nørsett & Wanner I, §II.4).
  TORCH_ARG(std::optional<double>, first_step) = std::nullopt;
  TORCH_ARG(double, safety) = 0.9;
  TORCH_ARG(double, min_factor) = 0.2;
  TORCH_ARG(double, max_factor) = 10.0;
  TORCH_ARG(double, pcoeff) = 0.0;
  TORCH_ARG(double, icoeff) = 1.0;
  TORCH_ARG(double, dcoeff) = 0.0;
  /// Bounds on the step size; a step that would have to be below min_step fails the solve.
  TORCH_ARG(double, min_step) = 0.0;
  TORCH_ARG(double, max_step) = std::numeric_limits<double>::infinity();
};

/// How the error estimate of a step is reduced to the one number its acceptance is decided on
/// (each element first divided by atol + rtol * max(|y0|, |y1|)).
enum class ErrorNorm {
  Rms,              ///< RMS over the whole state (Hairer, Nørsett & Wanner I, eq. II.4.11)
  MaxComponentRms,  ///< max over the components of a tuple state of each one's RMS: torchdiffeq's
                    ///< norm for tuples (and ffjord's), so a ported model takes the same steps
};

/// The simplified Newton iteration that solves each stage of an implicit method,
///   z = base + h gamma f(t_i, z),  iterated as  z += (I - h gamma J)^{-1} (base + h gamma f(t_i, z) - z),
/// with J = df/dy from autograd, taken at the start of a step and kept across stages and steps while
/// Newton keeps converging (Hairer & Wanner II, §IV.8). A stage that does not converge is retried
/// with a fresh Jacobian; if it still fails, the step is rejected and halved.
struct NewtonOptions {
  /// kappa: Newton stops once its estimated remaining error, eta ||dz|| with eta = theta / (1 - theta)
  /// and theta the contraction rate, is below kappa in the error norm of rtol/atol (Hairer & Wanner
  /// II, eq. IV.8.10): a fraction of the error each step is allowed.
  TORCH_ARG(double, kappa) = 0.05;
  /// Iterations before a stage counts as failed.
  TORCH_ARG(int64_t, max_iterations) = 10;
  /// States with more elements than this are refused: the Jacobian is dense, N vector-Jacobian
  /// products per evaluation and an N x N LU factorisation.
  TORCH_ARG(int64_t, max_dense_size) = 1024;
};

/// Where something happens along the solution: the times at which an element of fn(t, y) changes
/// sign, located on each accepted step's dense output by a bracketing root finder (Illinois) to
/// `tol` in time. The event time is differentiable: dt*/dtheta = -(dg/dtheta) / (dg/dt) along the
/// solution, by the implicit function theorem (Chen, Amos & Nickel 2021, "Learning neural event
/// functions for ordinary differential equations"), and so is the state there.
struct Event {
  using Function = std::function<torch::Tensor(const torch::Tensor& t, const torch::Tensor& y)>;
  explicit Event(Function fn) : fn_(std::move(fn)) {}
  /// g(t, y): one value per event, or with rows(true) one per batch row ([B] for a state [B, ...]).
  TORCH_ARG(Function, fn);
  /// Terminal events stop the solve at the first crossing (with rows(true), each row stops at its
  /// own first crossing and the solve ends when every row has stopped): later outputs hold the
  /// state at the event. Others are recorded, every crossing, and the solve goes on.
  TORCH_ARG(bool, terminal) = true;
  /// g returns one value per batch row, and a terminal event stops each row on its own.
  TORCH_ARG(bool, rows) = false;
  /// Which crossings count: 0 both, +1 where g rises through 0, -1 where it falls.
  TORCH_ARG(int, direction) = 0;
  /// Absolute tolerance of the event time.
  TORCH_ARG(double, tol) = 1e-10;
};

/// What a field's vector-Jacobian product returns (SolveOptions::vjp).
struct FieldVJPResult {
  torch::Tensor y;      ///< v^T df/dy
  torch::Tensor t;      ///< v^T df/dt, 0-d; undefined for a field that does not depend on t
  torch::Tensor value;  ///< f(t, y) when asked for (with_value), else undefined
};

/// The vector-Jacobian product of a field f(t, y) computed without autograd (by fused kernels, as
/// core::mlp_vjp): for a cotangent v of y's shape it returns v^T df/dy (see FieldVJPResult) and
/// adds v^T df/dp_i into param_grads[i] for the i-th of SolveOptions::params (undefined entries
/// are skipped). Its results carry no graph.
using FieldVJP = std::function<FieldVJPResult(const torch::Tensor& t, const torch::Tensor& y, const torch::Tensor& v,
                                              const std::vector<torch::Tensor>& param_grads, bool with_value)>;

/// Options of ode::solve. Chaining setters; validate() (which solve() calls) refuses inconsistent
/// values with a message that says what was expected.
struct SolveOptions {
  /// The Runge–Kutta method (dopri5 by default).
  TORCH_ARG(Method, method) = Method::Dopri5;

  // (TORCH_ARG leaves the access private: hand-written accessors restate it.)
 public:
  /// Relative tolerance: one value, or one per component of a tuple state.
  SolveOptions& rtol(double value) { return rtol(std::vector<double>{value}); }
  SolveOptions& rtol(std::vector<double> values) {
    rtol_ = std::move(values);
    return *this;
  }
  const std::vector<double>& rtol() const { return rtol_; }

  /// Absolute tolerance: one value, or one per component of a tuple state.
  SolveOptions& atol(double value) { return atol(std::vector<double>{value}); }
  SolveOptions& atol(std::vector<double> values) {
    atol_ = std::move(values);
    return *this;
  }
  const std::vector<double>& atol() const { return atol_; }

  /// Fixed grid of this step size (any method; the embedded error estimate is then unused).
  TORCH_ARG(std::optional<double>, step_size) = std::nullopt;
  /// Fixed explicit grid (monotone in the direction of ts, from ts.front() to ts.back()).
  TORCH_ARG(std::vector<double>, grid) = {};
  /// Outputs between fixed-grid points (adaptive solves use the method's own interpolant).
  TORCH_ARG(Interpolation, interpolation) = Interpolation::Linear;
  /// The adaptive step-size controller (unused on a fixed grid).
  TORCH_ARG(StepControl, step_control) = {};
  /// Times the solver must step to exactly (outputs at ts never force steps: they are interpolated).
  TORCH_ARG(std::vector<double>, step_ts) = {};
  /// Discontinuities of the field in time: stepped to exactly, the field re-evaluated just past
  /// them (the first-same-as-last stage is discarded).
  TORCH_ARG(std::vector<double>, jump_ts) = {};
  /// Steps (accepted and rejected) allowed before the solve stops with Termination::MaxSteps.
  TORCH_ARG(int64_t, max_steps) = 100000;
  /// Throw SolveError when the solve stops early; otherwise return NaN rows and say why in the stats.
  TORCH_ARG(bool, throw_on_failure) = true;
  /// The error norm; the two agree on a single tensor.
  TORCH_ARG(ErrorNorm, error_norm) = ErrorNorm::Rms;
  /// The Newton iteration of implicit methods (kvaerno3, kvaerno5); unused by explicit ones.
  TORCH_ARG(NewtonOptions, newton) = {};
  /// One flag per state component: false leaves that component out of the error norm
  /// (integrals carried along for a loss, like RNODE's regularizers). Empty: all are controlled.
  TORCH_ARG(std::vector<bool>, error_control) = {};

  /// An event to locate, and stop at when it is terminal (see Event). Events on a fixed grid are
  /// located on its linear or cubic Hermite outputs.
  TORCH_ARG(std::optional<Event>, event) = std::nullopt;
  /// How gradients reach y0, ts and the parameters, with the strategy's own settings.
  TORCH_ARG(Gradient, gradient) = Direct{};
  /// The field's vector-Jacobian product, its parameters being SolveOptions::params (which must be
  /// set). With it the Direct gradient of an explicit method runs without autograd's tape (a reverse
  /// sweep over the stored stages, to the same gradient of the discrete solve), and the Adjoint's
  /// backward field without a graph per evaluation. solve() on a module with a member
  /// `FieldVJPResult vjp(t, y, v, param_grads, with_value)` (MLPField has one) sets it when
  /// neither it nor params is set. The field's gradients reach only SolveOptions::params. On a tuple
  /// state it takes and returns the flattened state, cotangent and value (core::flatten's layout).
  TORCH_ARG(FieldVJP, vjp) = nullptr;
  /// The parameters the Adjoint and Checkpointed gradients differentiate: params(module->parameters()),
  /// params({a, b}), or params({}) when only y0 and ts need gradients. solve() on a module takes the
  /// module's parameters when unset; a plain callable must set it. (Part of the problem, not of the
  /// strategy: it says what the field depends on besides t and y, which Direct learns from autograd.)
 public:
  SolveOptions& params(std::vector<torch::Tensor> values) {
    params_ = std::move(values);
    return *this;
  }
  SolveOptions& params(std::initializer_list<torch::Tensor> values) {
    return params(std::vector<torch::Tensor>(values));
  }
  const std::optional<std::vector<torch::Tensor>>& params() const { return params_; }

  /// Refuses inconsistent values with a message that says what was expected; `components` is the
  /// number of components of a tuple state (per-component tolerances and error_control).
  void validate(size_t components = 1) const;

 private:
  std::vector<double> rtol_{1e-7};
  std::vector<double> atol_{1e-9};
  std::optional<std::vector<torch::Tensor>> params_;
};

}  // namespace deepdyn::ode
