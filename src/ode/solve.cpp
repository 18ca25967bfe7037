#include "deepdyn/ode/solve.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "deepdyn/core/math.h"
#include "deepdyn/core/names.h"
#include "deepdyn/core/tensor_tuple.h"
#include "ode/detail/problem.h"

namespace deepdyn::ode {

namespace {

const core::NameTable<Gradient>& gradients() {
  static const core::NameTable<Gradient> table(
      "gradient", {{"direct", Direct{}}, {"adjoint", Adjoint{}}, {"checkpointed", Checkpointed{}}});
  return table;
}

}  // namespace

const std::vector<std::string>& gradient_names() { return gradients().names(); }

const std::string& gradient_name(const Gradient& gradient) { return gradients().name_of(gradient); }

Gradient parse_gradient(const std::string& name) { return gradients().parse(name); }

namespace {

void check_positive_values(const std::vector<double>& values, const char* name, bool allow_zero) {
  TORCH_CHECK(!values.empty(), "SolveOptions::", name, " needs at least one value");
  for (double v : values)
    TORCH_CHECK(std::isfinite(v) && (allow_zero ? v >= 0 : v > 0), "SolveOptions::", name, " must be ",
                allow_zero ? ">= 0" : "> 0", ", got ", v);
}

void validate(const StepControl& c) {
  if (c.first_step()) TORCH_CHECK(*c.first_step() > 0, "StepControl::first_step must be > 0, got ", *c.first_step());
  TORCH_CHECK(c.safety() > 0 && c.safety() <= 1, "StepControl::safety must be in (0, 1], got ", c.safety());
  TORCH_CHECK(c.min_factor() > 0 && c.min_factor() <= 1, "StepControl::min_factor must be in (0, 1], got ",
              c.min_factor());
  TORCH_CHECK(c.max_factor() >= 1, "StepControl::max_factor must be >= 1, got ", c.max_factor());
  TORCH_CHECK(std::isfinite(c.pcoeff() + c.icoeff() + c.dcoeff()) && c.pcoeff() + c.icoeff() + c.dcoeff() > 0,
              "StepControl::pcoeff + icoeff + dcoeff must be finite and > 0 (the step must shrink as the error "
              "grows), got ",
              c.pcoeff(), " + ", c.icoeff(), " + ", c.dcoeff());
  TORCH_CHECK(c.min_step() >= 0, "StepControl::min_step must be >= 0, got ", c.min_step());
  TORCH_CHECK(c.max_step() > c.min_step(), "StepControl::max_step (", c.max_step(), ") must be greater than min_step (",
              c.min_step(), ")");
}

void validate(const NewtonOptions& n) {
  TORCH_CHECK(n.kappa() > 0 && n.kappa() <= 1, "NewtonOptions::kappa must be in (0, 1], got ", n.kappa());
  TORCH_CHECK(n.max_iterations() >= 1, "NewtonOptions::max_iterations must be >= 1, got ", n.max_iterations());
  TORCH_CHECK(n.max_dense_size() >= 1, "NewtonOptions::max_dense_size must be >= 1, got ", n.max_dense_size());
}

void validate(const Direct&) {}
void validate(const Adjoint& a) {
  if (a.rtol()) TORCH_CHECK(*a.rtol() > 0, "Adjoint::rtol must be > 0, got ", *a.rtol());
  if (a.atol()) TORCH_CHECK(*a.atol() >= 0, "Adjoint::atol must be >= 0, got ", *a.atol());
}
void validate(const Checkpointed& c) {
  TORCH_CHECK(c.checkpoints() >= 0, "Checkpointed::checkpoints must be >= 0 (0 chooses sqrt(steps)), got ",
              c.checkpoints());
}

}  // namespace

void SolveOptions::validate(size_t components) const {
  const SolveOptions& o = *this;
  check_positive_values(o.rtol(), "rtol", false);
  check_positive_values(o.atol(), "atol", true);
  for (const auto* tol : {&o.rtol(), &o.atol()})
    TORCH_CHECK(tol->size() == 1 || tol->size() == components, "per-component tolerances need one value per ",
                "state component: the state has ", components, " component(s), got ", tol->size(), " values");
  if (o.step_size()) TORCH_CHECK(*o.step_size() > 0, "SolveOptions::step_size must be > 0, got ", *o.step_size());
  TORCH_CHECK(!(o.step_size() && !o.grid().empty()), "give either SolveOptions::step_size or ::grid, not both");
  ode::validate(o.step_control());
  ode::validate(o.newton());
  TORCH_CHECK(o.max_steps() > 0, "SolveOptions::max_steps must be > 0, got ", o.max_steps());
  const auto& control = o.error_control();
  TORCH_CHECK(control.empty() || control.size() == components,
              "SolveOptions::error_control needs one flag per state component (", components, "), got ",
              control.size());
  TORCH_CHECK(control.empty() || std::find(control.begin(), control.end(), true) != control.end(),
              "SolveOptions::error_control leaves no component under error control: at least one flag must be true");
  std::visit([](const auto& strategy) { ode::validate(strategy); }, o.gradient());
  if (!std::holds_alternative<Direct>(o.gradient()))
    TORCH_CHECK(o.params().has_value(), "the ", gradient_name(o.gradient()),
                " gradient must know which parameters to differentiate: the field is a plain callable, so pass ",
                "them with SolveOptions::params(module->parameters()), or params({}) if only y0 and ts need gradients");
  TORCH_CHECK(!o.vjp() || o.params().has_value(),
              "SolveOptions::vjp adds the parameters' gradients in the order of SolveOptions::params, which is unset: ",
              "set params to the tensors the field's vjp differentiates");
}

namespace {

/// ts as host doubles, checked: 1-D, floating, finite, strictly monotone. Returns +1 or -1.
double check_times(const torch::Tensor& ts, const torch::Tensor& y0, std::vector<double>& times) {
  TORCH_CHECK(ts.defined() && ts.dim() == 1 && ts.numel() >= 1,
              "ts must be a 1-D tensor of output times, got a tensor of shape ",
              ts.defined() ? ts.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(ts.is_floating_point(), "ts must be floating point (float64 recommended), got ", ts.scalar_type());
  TORCH_CHECK(ts.device() == y0.device(), "ts and y0 must be on the same device: ts is on ", ts.device(), ", y0 on ",
              y0.device());
  auto host = ts.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  times.assign(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
  for (double t : times) TORCH_CHECK(std::isfinite(t), "ts must be finite, got ", t);
  if (times.size() < 2) return 1.0;
  const double direction = times[1] > times[0] ? 1.0 : -1.0;
  for (size_t i = 1; i < times.size(); ++i)
    TORCH_CHECK((times[i] - times[i - 1]) * direction > 0, "ts must be strictly increasing or strictly decreasing; ",
                "ts[", i - 1, "] = ", times[i - 1], ", ts[", i, "] = ", times[i]);
  return direction;
}

void check_state(const torch::Tensor& y0) {
  TORCH_CHECK(y0.defined(), "y0 is an undefined tensor");
  TORCH_CHECK(y0.is_floating_point(), "y0 must be a floating-point tensor (float32 or float64), got ", y0.scalar_type(),
              "; convert it with y0.to(torch::kFloat64)");
  TORCH_CHECK(core::all_finite(y0), "y0 contains NaN or Inf");
}

std::vector<double> scaled(std::vector<double> values, double factor) {
  for (auto& v : values) v *= factor;
  return values;
}

/// Solver options in the integrator's increasing time: reversed solves flip every time option,
/// and the event function sees the user's time (a rise in t is a fall in s = -t).
SolveOptions in_solver_time(SolveOptions o, double direction) {
  if (direction > 0) return o;
  o.grid(scaled(o.grid(), -1.0)).step_ts(scaled(o.step_ts(), -1.0)).jump_ts(scaled(o.jump_ts(), -1.0));
  if (o.event()) {
    Event event = *o.event();
    auto g = event.fn();
    event.fn([g](const torch::Tensor& s, const torch::Tensor& y) { return g(-s, y); }).direction(-event.direction());
    o.event(event);
  }
  return o;
}

detail::Tolerances tolerances(const SolveOptions& o, const core::TupleLayout* layout,
                              const torch::TensorOptions& opts) {
  detail::Tolerances tol{o.rtol()[0], o.atol()[0], {}, {}, {}, 0, {}};
  if (layout == nullptr) return tol;
  if (o.error_norm() == ErrorNorm::MaxComponentRms) tol.component_numels = layout->numels;
  auto per_component = [&](const std::vector<double>& v) {
    return core::expand_per_component(v.size() == 1 ? std::vector<double>(layout->size(), v[0]) : v, *layout, opts);
  };
  if (o.rtol().size() > 1 || o.atol().size() > 1) {
    tol.rtol_elements = per_component(o.rtol());
    tol.atol_elements = per_component(o.atol());
  }
  const auto& control = o.error_control();
  if (std::find(control.begin(), control.end(), false) != control.end()) {
    std::vector<double> mask;
    for (bool c : control) mask.push_back(c ? 1.0 : 0.0);
    tol.error_mask = per_component(mask);
    for (size_t i = 0; i < control.size(); ++i) tol.controlled_numel += control[i] ? layout->numels[i] : 0;
  }
  return tol;
}

/// The shared core of both solve() overloads, on a single or flattened state.
Solution solve_state(const Field& f, const torch::Tensor& y0, const torch::Tensor& ts, const SolveOptions& options,
                     const detail::Tolerances& tol) {
  Solution sol;
  detail::Problem problem;
  problem.direction = check_times(ts, y0, problem.times);
  if (problem.times.size() == 1) {
    sol.ys = y0.unsqueeze(0);
    return sol;
  }
  for (auto& t : problem.times) t *= problem.direction;
  // Reversed time: solve dz/ds = -f(-s, z) on s = -t, which increases.
  problem.field =
      problem.direction > 0 ? f : Field([f](const torch::Tensor& s, const torch::Tensor& y) { return -f(-s, y); });
  problem.ts = ts;
  problem.options = in_solver_time(options, problem.direction);
  problem.tol = tol;
  problem.params = options.params().value_or(std::vector<torch::Tensor>{});
  if (const auto& vjp = options.vjp()) {
    // For g(s, y) = -f(-s, y): v^T dg/dy = (-v)^T df/dy, and likewise for the parameters;
    // v^T dg/ds = v^T df/dt = -((-v)^T df/dt); g itself is -f.
    problem.vjp = problem.direction > 0
                      ? vjp
                      : FieldVJP([vjp](const torch::Tensor& s, const torch::Tensor& y, const torch::Tensor& v,
                                       const std::vector<torch::Tensor>& grads, bool with_value) {
                          auto r = vjp(-s, y, -v, grads, with_value);
                          if (r.t.defined()) r.t = -r.t;
                          if (r.value.defined()) r.value = -r.value;
                          return r;
                        });
  }
  if (problem.options.event()) return detail::solve_with_events(problem, y0);
  sol.ys = detail::solve_problem(problem, y0, sol.stats);
  return sol;
}

}  // namespace

namespace detail {

torch::Tensor solve_problem(const Problem& problem, const torch::Tensor& y0,
                            const std::shared_ptr<core::Stats>& stats) {
  return std::visit(
      [&](const auto& strategy) {
        using S = std::decay_t<decltype(strategy)>;
        if constexpr (std::is_same_v<S, Direct>) return solve_direct(problem, y0, stats);
        if constexpr (std::is_same_v<S, Adjoint>) return solve_adjoint(problem, y0, stats, strategy);
        if constexpr (std::is_same_v<S, Checkpointed>) return solve_checkpointed(problem, y0, stats, strategy);
      },
      problem.options.gradient());
}

}  // namespace detail

Solution solve(const Field& f, const torch::Tensor& y0, const torch::Tensor& ts, const SolveOptions& options) {
  TORCH_CHECK(static_cast<bool>(f), "ode::solve: the field is empty");
  check_state(y0);
  options.validate();
  return solve_state(f, y0, ts, options, tolerances(options, nullptr, y0.options()));
}

TupleSolution solve_tuple(const TupleField& f, const std::vector<torch::Tensor>& y0, const torch::Tensor& ts,
                          const SolveOptions& options) {
  TORCH_CHECK(static_cast<bool>(f), "ode::solve: the field is empty");
  TORCH_CHECK(!y0.empty(), "ode::solve: the state tuple y0 is empty");
  for (const auto& y : y0) check_state(y);
  options.validate(y0.size());
  TORCH_CHECK(!options.event(), "SolveOptions::event works on single-tensor states: flatten the tuple into one tensor ",
              "(core::flatten) to watch an event on it");
  const auto layout = core::TupleLayout::of(y0);
  Field flat_field = [f, layout](const torch::Tensor& t, const torch::Tensor& y) {
    auto dy = f(t, core::unflatten(y, layout));
    TORCH_CHECK(dy.size() == layout.size(), "the tuple field returned ", dy.size(), " derivatives for a state of ",
                layout.size(), " components");
    return core::flatten(dy);
  };
  auto flat_y0 = core::flatten(y0);
  auto r = solve_state(flat_field, flat_y0, ts, options, tolerances(options, &layout, flat_y0.options()));
  return {core::unflatten(r.ys, layout), r.stats};
}

}  // namespace deepdyn::ode
