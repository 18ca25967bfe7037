#include "ode/detail/integrator.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

bool is_underflow(double t, double dt, double min_step) {
  return dt < min_step || t + dt == t || !(dt > 0);
}

/// Collects the outputs ts[next..] that fall in (t0, t1]; t1 itself gets y1 exactly.
class OutputWriter {
 public:
  OutputWriter(const std::vector<double>& ts, std::vector<torch::Tensor>& ys) : ts_(ts), ys_(ys) {}

  bool done() const { return ys_.size() == ts_.size(); }
  /// True when an output lies strictly inside (t0, t1): the step needs its interpolant.
  bool needs_interpolant(double t1) const { return !done() && ts_[ys_.size()] < t1; }

  template <class MakeInterpolant>
  void write(double t1, const torch::Tensor& y1, MakeInterpolant&& make_interpolant) {
    std::vector<double> inside;
    for (size_t i = ys_.size(); i < ts_.size() && ts_[i] < t1; ++i) inside.push_back(ts_[i]);
    if (!inside.empty()) {
      auto values = make_interpolant().evaluate(inside);
      for (int64_t i = 0; i < static_cast<int64_t>(inside.size()); ++i) ys_.push_back(values[i]);
    }
    if (!done() && ts_[ys_.size()] == t1) ys_.push_back(y1);
  }

 private:
  const std::vector<double>& ts_;
  std::vector<torch::Tensor>& ys_;
};

Integration integrate_adaptive(CountingField& f, const ButcherTableau& tableau, const torch::Tensor& y0,
                               const std::vector<double>& ts, const SolveOptions& options, const Tolerances& tol) {
  Integration out;
  out.ys.push_back(y0);
  OutputWriter writer(ts, out.ys);
  const double t_end = ts.back();
  const auto stops = merged_stops(options, ts.front(), t_end);
  size_t next_stop = 0;
  StepController controller(options, tableau.error_order);

  double t = ts.front();
  torch::Tensor y = y0;
  torch::Tensor k0 = f(t, y);
  double dt = options.first_step().has_value()
                  ? *options.first_step()
                  : initial_step(f, t, y, k0, tableau.error_order, tol);
  dt = std::min({dt, options.max_step(), t_end - t});
  out.stats.initial_dt = dt;
  bool last_ratio_finite = true;

  while (!writer.done()) {
    if (out.stats.steps >= options.max_steps()) {
      out.status = Status::MaxStepsReached;
      break;
    }
    if (!k0.defined()) k0 = f(t, y);
    // Clip the step to the next time it must land on exactly.
    double t_target = t_end;
    bool target_is_jump = false;
    if (next_stop < stops.size() && stops[next_stop].t < t_end) {
      t_target = stops[next_stop].t;
      target_is_jump = stops[next_stop].jump;
    }
    // Like Hairer's codes, stretch a step by up to 1% rather than leave a sliver before the target.
    const bool clipped = t + 1.01 * dt >= t_target;
    const double h = clipped ? t_target - t : dt;
    if (is_underflow(t, h, options.min_step())) {
      out.status = last_ratio_finite ? Status::StepSizeUnderflow : Status::NonFiniteState;
      break;
    }

    auto step = runge_kutta_step(tableau, f, t, h, y, k0, clipped && target_is_jump);
    ++out.stats.steps;
    const double ratio = error_ratio(step.error, y, step.y1, tol);
    out.error_ratio = ratio;
    last_ratio_finite = std::isfinite(ratio);
    if (!last_ratio_finite || ratio > 1.0) {
      ++out.stats.rejected;
      dt = last_ratio_finite ? controller.next(h, ratio, false) : h * options.min_factor();
      continue;
    }

    ++out.stats.accepted;
    const double t1 = clipped ? t_target : t + h;
    torch::Tensor k1 = tableau.fsal() ? step.k.back() : torch::Tensor();
    if (writer.needs_interpolant(t1) && !k1.defined() && tableau.b_theta.empty()) k1 = f(t1, step.y1);
    writer.write(t1, step.y1, [&] {
      if (!tableau.b_theta.empty()) return continuous_extension(t, h, y, step.k, tableau.b_theta);
      return hermite_interpolant(t, h, y, step.k[0], step.y1, k1);
    });
    if (clipped && target_is_jump) k1 = f(std::nextafter(t1, std::numeric_limits<double>::infinity()), step.y1);
    if (clipped && t_target < t_end) ++next_stop;

    const double proposed = controller.next(h, ratio, true);
    // A step shortened to land on a stop says little about the right size: keep the larger one.
    dt = clipped ? std::max(proposed, std::min(dt, options.max_step())) : proposed;
    t = t1;
    y = step.y1;
    k0 = k1;
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
    const auto n = static_cast<int64_t>(std::ceil((t1 - t0) / h - 1e-9));
    for (int64_t i = 0; i < n; ++i) grid.push_back(t0 + i * h);
    grid.push_back(t1);
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

Integration integrate_fixed(CountingField& f, const ButcherTableau& tableau, const torch::Tensor& y0,
                            const std::vector<double>& ts, const SolveOptions& options) {
  Integration out;
  out.ys.push_back(y0);
  OutputWriter writer(ts, out.ys);
  const auto grid = fixed_grid(options, ts);
  const bool hermite = options.interpolation() == Interpolation::CubicHermite;

  torch::Tensor y = y0;
  torch::Tensor k0;
  out.stats.initial_dt = grid.size() > 1 ? grid[1] - grid[0] : 0.0;
  for (size_t i = 0; i + 1 < grid.size() && !writer.done(); ++i) {
    if (out.stats.steps >= options.max_steps()) {
      out.status = Status::MaxStepsReached;
      break;
    }
    const double t = grid[i], h = grid[i + 1] - grid[i];
    if (!k0.defined()) k0 = f(t, y);
    auto step = runge_kutta_step(tableau, f, t, h, y, k0, false);
    ++out.stats.steps;
    ++out.stats.accepted;
    out.stats.final_dt = h;
    const double t1 = grid[i + 1];
    torch::Tensor k1 = tableau.fsal() ? step.k.back() : torch::Tensor();
    const size_t written = out.ys.size();
    if (hermite && writer.needs_interpolant(t1) && !k1.defined()) k1 = f(t1, step.y1);
    writer.write(t1, step.y1, [&] {
      return hermite ? hermite_interpolant(t, h, y, step.k[0], step.y1, k1)
                     : linear_interpolant(t, h, y, step.y1);
    });
    y = step.y1;
    k0 = k1;
    // No error estimate guards a fixed grid: check the state once per step that writes outputs.
    if (out.ys.size() > written && !torch::isfinite(y).all().item<bool>()) {  // sync: stop on NaN/Inf
      out.status = Status::NonFiniteState;
      out.t_stop = t1;
      out.dt_stop = h;
      out.ys.resize(written);
      return out;
    }
    out.t_stop = t1;
    out.dt_stop = h;
  }
  return out;
}

}  // namespace

Integration integrate(CountingField& f, const torch::Tensor& y0, const std::vector<double>& ts,
                      const SolveOptions& options, const Tolerances& tol) {
  const auto& tab = tableau(options.method());
  const bool fixed = !tab.embedded() || options.step_size().has_value() || !options.grid().empty();
  Integration out = fixed ? integrate_fixed(f, tab, y0, ts, options) : integrate_adaptive(f, tab, y0, ts, options, tol);
  out.stats.nfe = f.nfe();
  return out;
}

}  // namespace deepdyn::ode::detail
