#include "ode/detail/integrator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "deepdyn/core/math.h"
#include "deepdyn/ode/tableau.h"
#include "ode/detail/interpolation.h"
#include "ode/detail/runge_kutta.h"

namespace deepdyn::ode::detail {
namespace {

/// A time the solver must step to exactly.
struct Stop {
  double t;
  bool jump;
};

std::vector<Stop> merged_stops(const SolveOptions& options, double t0, double t1) {
  std::vector<Stop> stops;
  for (double t : options.step_ts())
    if (t > t0 && t < t1) stops.push_back({t, false});
  for (double t : options.jump_ts())
    if (t > t0 && t < t1) stops.push_back({t, true});
  std::sort(stops.begin(), stops.end(), [](const Stop& a, const Stop& b) { return a.t < b.t; });
  return stops;
}

bool is_jump(const SolveOptions& options, double t) {
  const auto& jumps = options.jump_ts();
  return std::find(jumps.begin(), jumps.end(), t) != jumps.end();
}

/// The time just past a discontinuity, where the field is sampled for the next step.
double right_of(double t) { return std::nextafter(t, std::numeric_limits<double>::infinity()); }

/// How the outputs inside a step are computed.
enum class DenseOutput { Linear, Hermite, MethodExtension };

DenseOutput dense_output_of(const ButcherTableau& tableau, const SolveOptions& options, bool adaptive) {
  if (!adaptive)
    return options.interpolation() == Interpolation::CubicHermite ? DenseOutput::Hermite : DenseOutput::Linear;
  return tableau.b_theta.empty() ? DenseOutput::Hermite : DenseOutput::MethodExtension;
}

/// The interpolant of an accepted step from t to t + h. `k1` must be f(t + h, y1) for Hermite.
StepPolynomial interpolant(DenseOutput kind, const ButcherTableau& tableau, double t, double h, const torch::Tensor& y,
                           const RungeKuttaStep& step, const torch::Tensor& k1) {
  switch (kind) {
    case DenseOutput::Linear:
      return linear_interpolant(t, h, y, step.y1);
    case DenseOutput::Hermite:
      return hermite_interpolant(t, h, y, step.k[0], step.y1, k1);
    case DenseOutput::MethodExtension:
      break;
  }
  return continuous_extension(t, h, y, step.k, tableau.b_theta);
}

/// The Newton solver of an implicit method's stages (null for explicit methods), counting into `stats`.
std::unique_ptr<StageSolver> stage_solver(const ButcherTableau& tableau, const SolveOptions& options,
                                          const Tolerances& tol, core::Stats& stats) {
  if (!tableau.implicit()) return nullptr;
  return std::make_unique<StageSolver>(options.newton(), tol, stats);
}

bool is_underflow(double t, double dt, double min_step) { return dt < min_step || t + dt == t || !(dt > 0); }

/// Writes the outputs ts[ys.size()..] that fall in (t0, t1] of each step; t1 itself gets y1 exactly.
class OutputWriter {
 public:
  OutputWriter(const std::vector<double>& ts, std::vector<torch::Tensor>& ys) : ts_(ts), ys_(ys) {}

  bool done() const { return ys_.size() == ts_.size(); }

  template <class MakeInterpolant>
  void write(double t1, const torch::Tensor& y1, MakeInterpolant&& make_interpolant) {
    std::vector<double> inside;
    for (size_t i = ys_.size(); i < ts_.size() && ts_[i] < t1; ++i) inside.push_back(ts_[i]);
    if (!inside.empty()) {
      // unbind, not values[i]: its backward stacks the outputs' gradients once, where each select
      // would scatter its own into a zero tensor of all the step's outputs (quadratic in them).
      for (auto& value : make_interpolant().evaluate(inside).unbind(0)) ys_.push_back(value);
    }
    if (!done() && ts_[ys_.size()] == t1) ys_.push_back(y1);
  }

 private:
  const std::vector<double>& ts_;
  std::vector<torch::Tensor>& ys_;
};

/// Everything that follows an accepted step from (t, y) to (t1, step.y1): its outputs are written
/// and the observer told. Returns the next step's first stage: the FSAL stage, the field sampled
/// just past a discontinuity, or undefined (evaluated lazily, and only if needed).
torch::Tensor accept(CountingField& f, const ButcherTableau& tableau, DenseOutput dense, OutputWriter& writer,
                     const StepObserver& observer, EventLocator* events, double t, double h, double t1,
                     const torch::Tensor& y, const RungeKuttaStep& step, bool ends_at_jump) {
  torch::Tensor k1 = tableau.fsal() ? step.k.back() : torch::Tensor();
  std::optional<StepPolynomial> polynomial;  // built once, when outputs or events first need it
  auto step_interpolant = [&]() -> const StepPolynomial& {
    if (!polynomial) {
      if (dense == DenseOutput::Hermite && !k1.defined()) k1 = f(t1, step.y1);
      polynomial = interpolant(dense, tableau, t, h, y, step, k1);
    }
    return *polynomial;
  };
  writer.write(t1, step.y1, step_interpolant);
  if (events) events->after_step(t, t1, step.y1, step_interpolant);
  if (ends_at_jump) k1 = f(right_of(t1), step.y1);
  if (observer) observer({t, h, t1, y, step, ends_at_jump});
  return k1;
}

Integration integrate_adaptive(CountingField& f, const ButcherTableau& tableau, const torch::Tensor& y0,
                               const std::vector<double>& ts, const SolveOptions& options, const Tolerances& tol,
                               const StepObserver& observer, EventLocator* events) {
  Integration out;
  out.ys.push_back(y0);
  OutputWriter writer(ts, out.ys);
  const double t_end = ts.back();
  const auto stops = merged_stops(options, ts.front(), t_end);
  const auto dense = dense_output_of(tableau, options, true);
  size_t next_stop = 0;
  const auto& control = options.step_control();
  StepController controller(control, tableau.error_order);
  auto stages = stage_solver(tableau, options, tol, out.stats);

  double t = ts.front();
  torch::Tensor y = y0;
  torch::Tensor k0 = f(t, y);
  double dt = control.first_step() ? *control.first_step() : initial_step(f, t, y, k0, tableau.error_order, tol);
  dt = std::min({dt, control.max_step(), t_end - t});
  out.stats.initial_dt = dt;
  bool last_ratio_finite = std::isfinite(dt);  // a NaN field at t0 makes the starting step NaN

  while (!writer.done()) {
    if (out.stats.steps >= options.max_steps()) {
      out.stats.termination = core::Termination::MaxSteps;
      break;
    }
    if (!k0.defined()) k0 = f(t, y);
    // Clip the step to the next time it must land on exactly.
    double t_target = t_end;
    bool target_is_jump = false;
    if (next_stop < stops.size()) {
      t_target = stops[next_stop].t;
      target_is_jump = stops[next_stop].jump;
    }
    // Like Hairer's codes, stretch a step by up to 1% rather than leave a sliver before the target.
    const bool clipped = t + 1.01 * dt >= t_target;
    const double h = clipped ? t_target - t : dt;
    if (is_underflow(t, h, control.min_step())) {
      out.stats.termination = last_ratio_finite ? core::Termination::StepSizeUnderflow : core::Termination::NonFinite;
      break;
    }

    const bool ends_at_jump = clipped && target_is_jump;
    auto step = runge_kutta_step(tableau, f, t, h, y, k0, ends_at_jump, stages.get());
    ++out.stats.steps;
    if (step.failed) {  // Newton did not converge even with a fresh Jacobian: a shorter step will
      ++out.stats.rejected;
      dt = h * 0.5;
      continue;
    }
    const double ratio = error_ratio(step.error, y, step.y1, tol);
    out.error_ratio = ratio;
    last_ratio_finite = std::isfinite(ratio);
    if (!last_ratio_finite || ratio > 1.0) {
      ++out.stats.rejected;
      dt = last_ratio_finite ? controller.next(h, ratio, false) : h * control.min_factor();
      continue;
    }

    ++out.stats.accepted;
    const double t1 = clipped ? t_target : t + h;
    auto k1 = accept(f, tableau, dense, writer, observer, events, t, h, t1, y, step, ends_at_jump);
    if (clipped) ++next_stop;

    const double proposed = controller.next(h, ratio, true);
    // A step shortened to land on a stop says little about the right size: keep the larger one.
    dt = clipped ? std::max(proposed, std::min(dt, control.max_step())) : proposed;
    t = t1;
    y = step.y1;
    k0 = k1;
    if (events && events->stopped()) break;
  }
  out.stats.final_dt = dt;
  out.t_stop = t;
  out.dt_stop = dt;
  return out;
}

std::vector<double> fixed_grid(const SolveOptions& options, const std::vector<double>& ts) {
  std::vector<double> grid;
  const double t0 = ts.front(), t1 = ts.back();
  if (options.step_size().has_value()) {
    const double h = *options.step_size();
    TORCH_CHECK(t0 + h > t0, "SolveOptions::step_size ", h, " is below the resolution of times near t = ", t0,
                " (float64): use a step at least ", std::nextafter(t0, t1) - t0);
    const double steps = std::ceil((t1 - t0) / h - 1e-9);
    // More steps than max_steps end the solve with MaxStepsReached after step max_steps: the grid
    // stops two points past that instead of holding every step (1e9 of them at h = 1e-9).
    const auto n = static_cast<int64_t>(std::min(steps, static_cast<double>(options.max_steps()) + 2));
    for (int64_t i = 0; i < n; ++i) grid.push_back(t0 + i * h);
    if (n == steps) grid.push_back(t1);
  } else if (!options.grid().empty()) {
    grid = options.grid();
  } else {
    grid = ts;
  }
  for (const auto& stop : merged_stops(options, t0, t1)) grid.push_back(stop.t);
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  return grid;
}

/// Steps along `grid` (all steps accepted), writing the outputs ts[ys.size()..] as they are passed.
/// With `check_finite`, the state is checked once per step that writes outputs (fixed grids
/// have no error estimate to notice NaN). `starts_after_jump`: the first stage is sampled just
/// past grid.front().
Integration integrate_grid(CountingField& f, const ButcherTableau& tableau, const torch::Tensor& y0,
                           const std::vector<double>& grid, const std::vector<double>& ts,
                           std::vector<torch::Tensor> ys, DenseOutput dense, const SolveOptions& options,
                           const Tolerances& tol, bool check_finite, bool starts_after_jump,
                           const StepObserver& observer, EventLocator* events) {
  Integration out;
  auto stages = stage_solver(tableau, options, tol, out.stats);
  out.ys = std::move(ys);
  OutputWriter writer(ts, out.ys);
  torch::Tensor y = y0;
  torch::Tensor k0 = starts_after_jump && grid.size() > 1 ? f(right_of(grid.front()), y0) : torch::Tensor();
  out.stats.initial_dt = grid.size() > 1 ? grid[1] - grid[0] : 0.0;
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    if (out.stats.steps >= options.max_steps()) {
      out.stats.termination = core::Termination::MaxSteps;
      break;
    }
    const double t = grid[i], t1 = grid[i + 1], h = t1 - t;
    const bool ends_at_jump = is_jump(options, t1);
    if (!k0.defined()) k0 = f(t, y);
    auto step = runge_kutta_step(tableau, f, t, h, y, k0, ends_at_jump, stages.get());
    ++out.stats.steps;
    if (step.failed) {
      out.stats.termination = core::Termination::NoConvergence;
      out.t_stop = t;
      out.dt_stop = h;
      break;
    }
    ++out.stats.accepted;
    out.stats.final_dt = h;
    out.t_stop = t1;
    out.dt_stop = h;
    const size_t written = out.ys.size();
    k0 = accept(f, tableau, dense, writer, observer, events, t, h, t1, y, step, ends_at_jump);
    y = step.y1;
    if (check_finite && out.ys.size() > written && !core::all_finite(y)) {  // sync: stop on NaN
      out.stats.termination = core::Termination::NonFinite;
      out.ys.resize(written);
      break;
    }
    if (events && events->stopped()) break;
  }
  out.ys.push_back(y);  // the final state, for replay(); integrate() drops it
  return out;
}

}  // namespace

Integration integrate(CountingField& f, const torch::Tensor& y0, const std::vector<double>& ts,
                      const SolveOptions& options, const Tolerances& tol, const StepObserver& observer) {
  const auto& tab = tableau(options.method());
  TORCH_CHECK(!tab.implicit() || y0.numel() <= options.newton().max_dense_size(), "the implicit method ",
              method_name(options.method()), " forms the field's dense Jacobian: ", y0.numel(),
              " state elements (the adjoint's backward state counts the parameters too) exceed ",
              "NewtonOptions::max_dense_size = ", options.newton().max_dense_size(),
              ". Raise it if an N x N matrix fits, or use an explicit method.");
  const bool fixed = !tab.embedded() || options.step_size().has_value() || !options.grid().empty();
  std::unique_ptr<EventLocator> events;
  if (options.event()) events = std::make_unique<EventLocator>(*options.event(), ts.front(), y0);
  Integration out;
  if (fixed) {
    out = integrate_grid(f, tab, y0, fixed_grid(options, ts), ts, {y0}, dense_output_of(tab, options, false), options,
                         tol, true, false, observer, events.get());
    out.ys.pop_back();
  } else {
    out = integrate_adaptive(f, tab, y0, ts, options, tol, observer, events.get());
  }
  if (events) out.events = events->hits();
  out.stats.nfe = f.nfe();
  return out;
}

std::vector<torch::Tensor> replay(CountingField& f, const torch::Tensor& y0, const std::vector<double>& grid,
                                  const std::vector<double>& outputs, const SolveOptions& options,
                                  const Tolerances& tol, bool starts_after_jump, const StepObserver& observer) {
  const auto& tab = tableau(options.method());
  const bool adaptive = tab.embedded() && !options.step_size().has_value() && options.grid().empty();
  auto out = integrate_grid(f, tab, y0, grid, outputs, {}, dense_output_of(tab, options, adaptive), options, tol, false,
                            starts_after_jump, observer, nullptr);
  TORCH_CHECK(out.stats.termination == core::Termination::Success,
              "ode::solve could not re-run the step at t = ", out.t_stop,
              " for its gradient: ", core::termination_message(out.stats.termination),
              ". Use the Direct gradient, or tighten NewtonOptions::kappa.");
  return std::move(out.ys);
}

}  // namespace deepdyn::ode::detail
