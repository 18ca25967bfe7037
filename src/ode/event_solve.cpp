// ode::solve with SolveOptions::event: locate, re-solve for gradients, attach the event times'
// derivatives by the implicit function theorem, and hold stopped states.
#include <algorithm>
#include <limits>
#include <map>

#include "ode/detail/problem.h"

namespace deepdyn::ode::detail {
namespace {

/// The event time and state with their derivatives. At a crossing s* of g_e(s, y(s)) = 0,
///   ds*/dtheta = -(dg_e/dtheta) / (dg_e/ds),  dg_e/ds = dg_e/ds|_y + dg_e/dy . f(s*, y*)
/// (Chen, Amos & Nickel 2021, eq. 3): s* - g_e(s*, y(s*)) / (dg_e/ds) carries it, zero beyond s*
/// in value, with the state's graph in y(s*); the state at the event moves along f with s*.
std::pair<torch::Tensor, torch::Tensor> attach_derivatives(const Problem& problem, const Event& event, double s,
                                                           int64_t index, const torch::Tensor& y_at,
                                                           core::Stats& stats) {
  const auto options = y_at.options();
  torch::Tensor slope, rate;
  {
    torch::AutoGradMode enable_grad(true);
    auto time = torch::scalar_tensor(s, options).requires_grad_(true);
    auto state = y_at.detach().requires_grad_(true);
    auto g = event.fn()(time, state).reshape(-1)[index];
    auto grads = torch::autograd::grad({g}, {time, state}, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                       /*allow_unused=*/true);
    torch::NoGradGuard no_grad;
    slope = problem.field(time.detach(), state.detach());
    ++stats.nfe;
    rate = grads[1].defined() ? (grads[1] * slope).sum() : torch::zeros({}, options);
    if (grads[0].defined()) rate = rate + grads[0];
  }
  const auto constant = torch::scalar_tensor(s, options);
  if (rate.item<double>() == 0) return {constant, y_at};  // sync, once per event: a tangential touch has no derivative
  auto g = event.fn()(constant, y_at).reshape(-1)[index];
  auto time = constant - g / rate;
  return {time, y_at + slope * (time - constant)};
}

/// Whether the solve may have to be differentiated: y0, ts or the parameters need gradients
/// (a plain callable without params may hold its own, so it counts as needing them under autograd).
bool may_need_gradients(const Problem& problem, const torch::Tensor& y0) {
  if (!torch::GradMode::is_enabled()) return false;
  if (y0.requires_grad() || problem.ts.requires_grad() || !problem.options.params()) return true;
  const auto& params = *problem.options.params();
  return std::any_of(params.begin(), params.end(), [](const torch::Tensor& p) { return p.requires_grad(); });
}

/// The outputs, those past a terminal event holding the state at the event: the whole state, or
/// with Event::rows each row its own (rows that never cross run on). Outputs the search did not
/// reach (undefined) lie past every stop.
torch::Tensor hold_after_events(const Problem& problem, const Event& event, const std::vector<EventHit>& hits,
                                const std::vector<torch::Tensor>& event_states, std::vector<torch::Tensor> outputs,
                                const torch::Tensor& y0) {
  if (event.terminal() && !event.rows() && !hits.empty())
    for (size_t i = 0; i < outputs.size(); ++i)
      if (problem.times[i] >= hits.front().t) outputs[i] = event_states.front();
  if (event.terminal() && event.rows() && !hits.empty()) {
    const auto rows = y0.size(0);
    std::vector<double> stop(rows, std::numeric_limits<double>::infinity());
    std::vector<torch::Tensor> held(rows, torch::zeros_like(y0[0]));
    for (size_t h = 0; h < hits.size(); ++h) {
      stop[hits[h].index] = hits[h].t;
      held[hits[h].index] = event_states[h][hits[h].index];
    }
    const auto held_rows = torch::stack(held);
    auto shape = std::vector<int64_t>(y0.dim(), 1);
    shape[0] = rows;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].defined()) {
        outputs[i] = held_rows;
        continue;
      }
      std::vector<uint8_t> stopped(rows);
      for (int64_t b = 0; b < rows; ++b) stopped[b] = problem.times[i] >= stop[b];
      const auto mask = torch::tensor(stopped, torch::kUInt8).to(y0.device(), torch::kBool).view(shape);
      outputs[i] = torch::where(mask, held_rows, outputs[i]);
    }
  }
  return torch::stack(outputs);
}

}  // namespace

Solution solve_with_events(const Problem& problem, const torch::Tensor& y0) {
  Solution sol;
  const Event event = *problem.options.event();
  Integration search;
  {
    torch::NoGradGuard no_grad;
    auto f = problem.counting_field(y0);
    search = integrate(f, y0.detach(), problem.times, problem.options, problem.tol);
  }
  const auto reached = finish(problem, search, *sol.stats);  // throws, or pads a failure with NaN
  const auto& hits = search.events;
  // A terminal event stops at its first crossing; with rows, once every row has crossed.
  const bool stopped =
      event.terminal() && !hits.empty() && (!event.rows() || static_cast<int64_t>(hits.size()) == y0.size(0));
  const double s_last = stopped ? hits.back().t : problem.times.back();  // hits come in time order

  // The outputs before the last stop and the states at the events, from the search, or with their
  // graphs from a second solve through all those times.
  std::vector<torch::Tensor> outputs(problem.times.size()), at_hits(hits.size());
  if (sol.stats->termination != core::Termination::Success || !may_need_gradients(problem, y0)) {
    for (size_t i = 0; i < static_cast<size_t>(reached.size(0)); ++i) outputs[i] = reached[i];
    for (size_t h = 0; h < hits.size(); ++h) at_hits[h] = hits[h].y;
  } else {
    std::map<double, torch::Tensor> times;  // solver time -> the user's time, with ts's gradient for outputs
    for (size_t i = 0; i < problem.times.size() && problem.times[i] <= s_last; ++i)
      times[problem.times[i]] = problem.ts[static_cast<int64_t>(i)];
    for (const auto& hit : hits)
      times.emplace(hit.t, torch::scalar_tensor(hit.t * problem.direction, problem.ts.options()));
    Problem again = problem;
    again.options.event(std::nullopt);
    again.times.clear();
    std::vector<torch::Tensor> user_times;
    for (const auto& [s, t] : times) again.times.push_back(s), user_times.push_back(t);
    again.ts = torch::stack(user_times);
    const auto ys = solve_problem(again, y0, sol.stats);
    auto row_of = [&](double s) {
      return static_cast<int64_t>(std::lower_bound(again.times.begin(), again.times.end(), s) - again.times.begin());
    };
    for (size_t i = 0; i < problem.times.size() && problem.times[i] <= s_last; ++i) outputs[i] = ys[row_of(problem.times[i])];
    for (size_t h = 0; h < hits.size(); ++h) at_hits[h] = ys[row_of(hits[h].t)];
  }

  std::vector<torch::Tensor> event_states(hits.size());
  for (size_t h = 0; h < hits.size(); ++h) {
    auto [time, state] = attach_derivatives(problem, event, hits[h].t, hits[h].index, at_hits[h], *sol.stats);
    event_states[h] = state;
    sol.events.push_back({(time * problem.direction).to(problem.ts.scalar_type()),
                          event.rows() ? state[hits[h].index] : state, hits[h].index});
  }

  sol.ys = hold_after_events(problem, event, hits, event_states, std::move(outputs), y0);
  return sol;
}

}  // namespace deepdyn::ode::detail
