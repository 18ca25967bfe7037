// The Adjoint gradient: the continuous adjoint sensitivity method (Chen, Rubanova,
// Bettencourt & Duvenaud 2018, "Neural Ordinary Differential Equations", §2 and
// appendix B). The forward solve keeps only the outputs; the backward pass
// integrates the augmented state [z, a, a_theta, a_t] from the last output time
// to the first, interval by interval:
//   dz/dt = f,  da/dt = -a^T df/dz,  da_theta/dt = -a^T df/dtheta,  da_t/dt = -a^T df/dt,
// restoring z to the stored output and adding the incoming gradient at each time.
//
// With an implicit (stiff) method, z is not integrated backward: backward in time a stiff field's
// decaying modes grow (e^{500 t} for an eigenvalue -500), so the solve would crawl or blow up.
// z is read instead from a cubic Hermite interpolant through the forward solve's accepted steps, as
// CVODES's adjoint and DiffEqSensitivity's InterpolatingAdjoint do: memory O(steps), not O(1).
#include <algorithm>

#include "deepdyn/core/memory.h"
#include "deepdyn/core/tensor_tuple.h"
#include "deepdyn/ode/tableau.h"
#include "ode/detail/interpolation.h"
#include "ode/detail/problem.h"

namespace deepdyn::ode::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// The forward solution at the accepted steps, for z(s) in the backward pass of a stiff solve.
class Trajectory {
 public:
  void add(double t, const torch::Tensor& y) {
    times_.push_back(t);
    states_.push_back(y);
    slopes_.emplace_back();
  }
  bool empty() const { return times_.empty(); }
  /// z(s) by cubic Hermite interpolation; the slopes at the ends of the step are evaluated once.
  torch::Tensor at(double s, const Field& field) {
    const auto upper = std::upper_bound(times_.begin(), times_.end(), s) - times_.begin();
    const auto i = static_cast<size_t>(std::clamp<int64_t>(upper - 1, 0, static_cast<int64_t>(times_.size()) - 2));
    for (size_t j : {i, i + 1})
      if (!slopes_[j].defined()) slopes_[j] = field(torch::scalar_tensor(times_[j], states_[j].options()), states_[j]);
    const double dt = times_[i + 1] - times_[i];
    return hermite_interpolant(times_[i], dt, states_[i], slopes_[i], states_[i + 1], slopes_[i + 1]).evaluate({s})[0];
  }

 private:
  std::vector<double> times_;
  std::vector<torch::Tensor> states_, slopes_;
};

struct AdjointContext : torch::CustomClassHolder {
  AdjointContext(Problem p, std::shared_ptr<core::Stats> s, Adjoint a)
      : problem(std::move(p)), stats(std::move(s)), adjoint(std::move(a)) {}
  Problem problem;
  std::shared_ptr<core::Stats> stats;
  Adjoint adjoint;
  Trajectory trajectory;  ///< kept for implicit methods only
};

/// Options of the backward solve over one interval [s_i, s_{i-1}] (decreasing solver time).
SolveOptions backward_options(const Problem& problem, const Adjoint& adj, double s_hi, double s_lo,
                              size_t parameter_components, bool with_time, bool interpolated) {
  const auto& fwd = problem.options;
  SolveOptions o = fwd;
  o.method(adj.method().value_or(fwd.method()))
      .rtol(adj.rtol().value_or(*std::min_element(fwd.rtol().begin(), fwd.rtol().end())))
      .atol(adj.atol().value_or(*std::min_element(fwd.atol().begin(), fwd.atol().end())))
      .step_control(StepControl(fwd.step_control()).first_step(std::nullopt))
      .throw_on_failure(true)
      .gradient(Direct{})
      .vjp(nullptr);  // the field's vjp is used inside the augmented field, on its own state
  // A fixed grid of the forward is walked back on its own points inside the interval.
  if (!fwd.grid().empty() || (!is_adaptive(fwd.method()) && !fwd.step_size())) {
    const auto& points = fwd.grid().empty() ? problem.times : fwd.grid();
    std::vector<double> grid = {s_hi};
    for (auto it = points.rbegin(); it != points.rend(); ++it)
      if (*it<s_hi&& * it> s_lo) grid.push_back(*it);
    grid.push_back(s_lo);
    o.grid(grid);
  }
  // [z, a] are error-controlled; the seminorm leaves a_theta and a_t out (Kidger et al. 2021).
  std::vector<bool> control(2 + parameter_components + (with_time ? 1 : 0), adj.norm() == AdjointNorm::Full);
  control[0] = !interpolated;  // an interpolated z does not move
  control[1] = true;
  o.error_control(control);
  return o;
}

/// The trainable parameters' adjoint a_theta as one flat component of the backward state, and a
/// buffer the field's VJP adds into through views made once: per evaluation one fill and one copy,
/// not a zero tensor per parameter and a view per parameter of the state.
class FlatParameterAdjoint {
 public:
  /// params: the problem's, trained or not (the VJP takes one accumulator per parameter).
  explicit FlatParameterAdjoint(const std::vector<torch::Tensor>& params) {
    const auto trained = trainable(params);
    if (trained.empty()) return;
    layout_ = core::TupleLayout::of(trained);
    buffer_ = torch::zeros({layout_.total_numel()}, trained[0].options().requires_grad(false));
    views_ = core::unflatten(buffer_, layout_);
    size_t next = 0;
    for (const auto& p : params) accumulators_.push_back(p.requires_grad() ? views_[next++] : torch::Tensor());
  }

  bool empty() const { return views_.empty(); }
  /// a_theta's zero start.
  torch::Tensor zeros() const { return torch::zeros_like(buffer_); }
  /// The accumulators, zeroed, in the problem's parameter order (undefined where not trained).
  const std::vector<torch::Tensor>& cleared() {
    if (buffer_.defined()) buffer_.zero_();
    return accumulators_;
  }
  /// What the VJP added since `cleared`, as a new flat tensor.
  torch::Tensor taken() const { return buffer_.clone(); }
  /// Per-parameter values (trainable order) of a flat a_theta.
  std::vector<torch::Tensor> split(const torch::Tensor& flat) const { return core::unflatten(flat, layout_); }
  /// Per-parameter products (trainable order; undefined: zero) as one flat a_theta derivative.
  torch::Tensor joined(std::vector<torch::Tensor> grads) const {
    for (size_t i = 0; i < grads.size(); ++i)
      if (!grads[i].defined()) grads[i] = torch::zeros_like(views_[i]);
    return core::flatten(grads);
  }

 private:
  core::TupleLayout layout_;
  torch::Tensor buffer_;
  std::vector<torch::Tensor> views_, accumulators_;
};

/// The augmented field's derivative [f, -a^T df/dz, -a^T df/dtheta (trainable parameters, one flat
/// component), -a^T df/dt (with_time)] by the field's own vector-Jacobian product: no graph per
/// evaluation. An interpolated z does not move (its derivative is zero).
std::vector<torch::Tensor> vjp_derivative(const Problem& problem, FlatParameterAdjoint& theta, const torch::Tensor& s,
                                          const torch::Tensor& z, const torch::Tensor& a, bool with_time,
                                          bool interpolated) {
  torch::NoGradGuard no_grad;
  const auto& param_grads = theta.cleared();
  auto r = problem.vjp(s, z, a.neg(), param_grads, /*with_value=*/!interpolated);
  std::vector<torch::Tensor> derivative = {interpolated ? core::new_zeros_like(z) : r.value, r.y};
  if (!theta.empty()) derivative.push_back(theta.taken());
  if (with_time) derivative.push_back(r.t.defined() ? r.t.reshape({}) : torch::zeros({}, z.options()));
  return derivative;
}

class AdjointSolve : public torch::autograd::Function<AdjointSolve> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& y0, const torch::Tensor& /*ts*/,
                               torch::TensorList /*params*/, c10::intrusive_ptr<AdjointContext> context) {
    const auto& problem = context->problem;
    auto f = problem.counting_field(y0);
    StepObserver keep;
    if (is_implicit(problem.options.method())) {
      context->trajectory.add(problem.times.front(), y0.detach());
      keep = [&](const AcceptedStep& s) { context->trajectory.add(s.t1, s.step.y1.detach()); };
    }
    auto r = integrate(f, y0, problem.times, problem.options, problem.tol, keep);
    auto ys = finish(problem, r, *context->stats);
    ctx->save_for_backward({ys});
    ctx->saved_data["context"] = c10::IValue::make_capsule(context);
    return ys;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto context = c10::static_intrusive_pointer_cast<AdjointContext>(ctx->saved_data["context"].toCapsule());
    const Problem& problem = context->problem;
    core::Stats& stats = *context->stats;
    const auto ys = ctx->get_saved_variables()[0];
    const auto g = grad_outputs[0].defined() ? grad_outputs[0] : torch::zeros_like(ys);
    const bool with_time = ctx->needs_input_grad(1);
    const auto params = trainable(problem.params);
    const auto n = static_cast<int64_t>(problem.times.size());
    const auto state_options = ys.options();
    auto time_tensor = [&](double s) { return torch::scalar_tensor(s, state_options); };

    // The augmented field: one vector-Jacobian product gives a^T df/dz, a^T df/dtheta, a^T df/dt.
    // An implicit method differentiates it in turn (its Jacobian in [z, a]): then the products
    // keep their graph, through z and a.
    const bool interpolated = !context->trajectory.empty();
    FlatParameterAdjoint theta(problem.params);
    TupleField augmented = [&](const torch::Tensor& s, const std::vector<torch::Tensor>& state) {
      const bool differentiated = state[0].requires_grad() || state[1].requires_grad();
      torch::Tensor z;
      if (interpolated) {
        torch::NoGradGuard no_grad;
        z = context->trajectory.at(s.item<double>(), problem.field);  // sync: the time picks the step
      }
      if (problem.vjp && !differentiated)
        return vjp_derivative(problem, theta, s, interpolated ? z : state[0], state[1], with_time, interpolated);
      torch::AutoGradMode enable_grad(true);
      z = interpolated               ? z.requires_grad_(true)
          : state[0].requires_grad() ? state[0]
                                     : state[0].detach().requires_grad_(true);
      auto t = s.detach().requires_grad_(with_time);
      auto dz = problem.field(t, z);
      std::vector<torch::Tensor> inputs = {z};
      inputs.insert(inputs.end(), params.begin(), params.end());
      if (with_time) inputs.push_back(t);
      // The product with -a is the derivative itself: no negation per component afterwards.
      variable_list vjps(inputs.size());
      if (dz.requires_grad())
        vjps = torch::autograd::grad({dz}, inputs, {state[1].neg()}, /*retain_graph=*/differentiated,
                                     /*create_graph=*/differentiated, /*allow_unused=*/true);
      // An interpolated z stays put in the augmented state (its derivative is zero).
      std::vector<torch::Tensor> derivative = {interpolated     ? torch::zeros_like(dz)
                                               : differentiated ? dz
                                                                : dz.detach()};
      derivative.push_back(vjps[0].defined() ? vjps[0] : torch::zeros_like(z));
      if (!theta.empty()) derivative.push_back(theta.joined({vjps.begin() + 1, vjps.begin() + 1 + params.size()}));
      if (with_time) derivative.push_back(vjps.back().defined() ? vjps.back() : torch::zeros_like(t));
      return derivative;
    };

    // State at the last output time: z = y_N, a = dL/dy_N, a_theta = 0, a_t = 0.
    std::vector<torch::Tensor> state = {ys[n - 1], g[n - 1]};
    if (!theta.empty()) state.push_back(theta.zeros());
    if (with_time) state.push_back(torch::zeros({}, state_options));
    std::vector<torch::Tensor> time_grads(n);  // 0-d, kept on the device: no host sync per interval
    double carried_step = 0;                   // each interval starts with the step the previous one ended with
    for (int64_t i = n - 1; i > 0; --i) {
      const double s_hi = problem.times[i], s_lo = problem.times[i - 1];
      if (with_time) {
        // dL/dt_i = g_i . f(t_i, y_i): moving an output time moves its output along the field.
        torch::NoGradGuard no_grad;
        const auto dl_dt = (problem.field(time_tensor(s_hi), ys[i]) * g[i]).sum();
        ++stats.nfe_backward;
        time_grads[i] = dl_dt;
        state.back() = state.back() - dl_dt;
      }
      auto options =
          backward_options(problem, context->adjoint, s_hi, s_lo, theta.empty() ? 0 : 1, with_time, interpolated);
      if (carried_step > 0) options.step_control().first_step(std::min(carried_step, s_hi - s_lo));
      auto sol = solve_tuple(augmented, state, torch::tensor({s_hi, s_lo}, torch::kFloat64), options);
      carried_step = std::abs(sol.stats->final_dt);
      stats.nfe_backward += sol.stats->nfe;
      stats.steps_backward += sol.stats->steps;
      for (size_t c = 0; c < state.size(); ++c) state[c] = sol.ys[c][1];
      state[0] = ys[i - 1];  // restore z from the forward pass instead of trusting the backward solve
      state[1] += g[i - 1];  // the loss's gradient at this output time joins the adjoint
    }

    variable_list grads = {state[1], torch::Tensor()};
    if (with_time) {
      time_grads[0] = state.back();
      // Solver time is s = direction * t.
      grads[1] = (torch::stack(time_grads) * problem.direction).to(problem.ts.options());
    }
    const auto param_grads =
        parameter_gradients(problem.params, theta.empty() ? std::vector<torch::Tensor>{} : theta.split(state[2]));
    grads.insert(grads.end(), param_grads.begin(), param_grads.end());
    grads.push_back(torch::Tensor());  // the context
    return grads;
  }
};

}  // namespace

torch::Tensor solve_adjoint(const Problem& problem, const torch::Tensor& y0, const std::shared_ptr<core::Stats>& stats,
                            const Adjoint& adjoint) {
  for (const auto& p : problem.params)
    TORCH_CHECK(p.scalar_type() == y0.scalar_type() && p.device() == y0.device(),
                "the adjoint gradient integrates the parameters' adjoint beside the state: every parameter must have ",
                "the state's dtype and device (", y0.scalar_type(), " on ", y0.device(), "), got ", p.scalar_type(),
                " on ", p.device());
  auto context = c10::make_intrusive<AdjointContext>(problem, stats, adjoint);
  return AdjointSolve::apply(y0, problem.ts, torch::TensorList(problem.params), context);
}

}  // namespace deepdyn::ode::detail
