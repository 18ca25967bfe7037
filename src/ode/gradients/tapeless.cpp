// The Direct gradient without autograd's tape, for explicit Runge–Kutta methods and a field that
// gives its own vector-Jacobian product (SolveOptions::vjp). The forward solve runs without a
// graph and keeps every accepted step's start state and stages; the backward sweeps the steps in
// reverse with the discrete adjoint of the scheme (Hager 2000; Sandu 2006, "On the properties of
// Runge–Kutta discrete adjoints"). For a step from (t, y) with h fixed (a constant to autograd too)
//   Y_i = y + h sum_{j<i} a_ij k_j,   k_i = f(t + c_i h, Y_i),   y1 = y + h sum_i b_i k_i,
// and outputs inside the step y(t + theta h) = y + h sum_i b_i(theta) k_i (the method's own
// interpolant) or (1 - theta) y + theta y1 (a fixed grid's linear one), the cotangents are
//   kbar_i = h b_i ybar1 + h sum_o b_i(theta_o) g_o + h sum_{j>i} a_ji Ybar_j,  Ybar_i = vjp(Y_i, kbar_i),
//   ybar = ybar1 + sum_o g_o + sum_i Ybar_i,
// taken for i from the last stage down: the gradient autograd takes through the same steps.
// A first-same-as-last stage is the previous step's last stage: its cotangent joins that one.
#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "deepdyn/ode/tableau.h"
#include "ode/detail/reverse_sweep.h"

namespace deepdyn::ode::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct TapelessContext : torch::CustomClassHolder {
  TapelessContext(Problem p, std::shared_ptr<core::Stats> s) : problem(std::move(p)), stats(std::move(s)) {}
  Problem problem;
  std::shared_ptr<core::Stats> stats;
  std::vector<RecordedStep> steps;
};

/// Whether outputs inside a step come from the method's interpolant (else linear, on a fixed grid).
bool uses_method_interpolant(const ButcherTableau& tableau, const SolveOptions& options) {
  return tableau.embedded() && !options.step_size() && options.grid().empty();
}

/// An output inside a step: its index in ts and where it falls, theta in (0, 1).
struct InsideOutput {
  size_t index;
  double theta;
};

/// The outputs ts[next..] each step wrote, by the integrator's rule (OutputWriter): those strictly
/// inside (t, t1) from its interpolant, one at t1 itself as y1.
struct StepOutputs {
  std::vector<InsideOutput> inside;
  std::optional<size_t> at_end;
};

std::vector<StepOutputs> outputs_per_step(const std::vector<RecordedStep>& steps, const std::vector<double>& ts,
                                          size_t next) {
  std::vector<StepOutputs> out(steps.size());
  for (size_t n = 0; n < steps.size(); ++n) {
    const auto& s = steps[n];
    for (; next < ts.size() && ts[next] < s.t1; ++next) out[n].inside.push_back({next, (ts[next] - s.t) / s.h});
    if (next < ts.size() && ts[next] == s.t1) out[n].at_end = next++;
  }
  return out;
}

class TapelessSolve : public torch::autograd::Function<TapelessSolve> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& y0, torch::TensorList /*params*/,
                               c10::intrusive_ptr<TapelessContext> context) {
    const auto& problem = context->problem;
    auto& steps = context->steps;
    auto f = problem.counting_field(y0);
    auto r = integrate(f, y0, problem.times, problem.options, problem.tol, record_into(steps));
    auto ys = finish(problem, r, *context->stats);
    ctx->saved_data["context"] = c10::IValue::make_capsule(context);
    return ys;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto context = c10::static_intrusive_pointer_cast<TapelessContext>(ctx->saved_data["context"].toCapsule());
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "ode::solve: the tapeless Direct gradient (SolveOptions::vjp) cannot be differentiated again ",
                "(create_graph): solve without SolveOptions::vjp (or with SolveOptions::params set, for a module) ",
                "to differentiate the gradient");
    const Problem& problem = context->problem;
    const auto g = grad_outputs[0];
    auto param_grads = zero_parameter_gradients(problem.params);
    int64_t vjps = 0;
    const auto ybar = sweep_steps(problem, context->steps, g, 1, false, torch::zeros_like(g[0]), param_grads, vjps);
    context->stats->nfe_backward += vjps;
    context->stats->steps_backward += static_cast<int64_t>(context->steps.size());

    variable_list grads = {ybar + g[0]};
    grads.insert(grads.end(), param_grads.begin(), param_grads.end());  // undefined where not trained
    grads.push_back(torch::Tensor());                                   // the context
    return grads;
  }
};

}  // namespace

StepObserver record_into(std::vector<RecordedStep>& steps) {
  return [&steps](const AcceptedStep& s) { steps.push_back({s.t, s.h, s.t1, s.y, s.step.k, s.ends_at_jump}); };
}

std::vector<torch::Tensor> zero_parameter_gradients(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) grads.push_back(p.requires_grad() ? torch::zeros_like(p) : torch::Tensor());
  return grads;
}

torch::Tensor sweep_steps(const Problem& problem, const std::vector<RecordedStep>& steps, const torch::Tensor& g,
                          size_t first_output, bool starts_after_jump, torch::Tensor ybar,
                          std::vector<torch::Tensor>& param_grads, int64_t& vjps) {
  const auto& tab = tableau(problem.options.method());
  const bool method_interpolant = uses_method_interpolant(tab, problem.options);
  const auto state_options = g.options();
  auto pullback = [&](double t, const torch::Tensor& y, const torch::Tensor& v) {
    ++vjps;
    return problem.vjp(torch::scalar_tensor(t, state_options), y, v, param_grads, false).y;
  };

  const auto outputs = outputs_per_step(steps, problem.times, first_output);
  const int s = tab.stages();
  torch::Tensor shared_kbar;  // the next step's first stage's cotangent, where it is this step's last
  for (size_t n = steps.size(); n-- > 0;) {
    const auto& step = steps[n];
    const auto& out = outputs[n];
    // Sources of cotangent, each a tensor with its weight in every stage's kbar (h included) and in ybar.
    std::vector<torch::Tensor> sources;
    std::vector<std::vector<double>> stage_weights(s);
    std::vector<double> state_weights;
    auto add_source = [&](const torch::Tensor& v, double state_weight, auto&& stage_weight) {
      sources.push_back(v);
      state_weights.push_back(state_weight);
      for (int i = 0; i < s; ++i) stage_weights[i].push_back(stage_weight(i));
    };
    if (out.at_end) ybar = ybar + g[*out.at_end];
    for (const auto& o : out.inside) {
      if (method_interpolant) {
        add_source(g[o.index], 1.0, [&](int i) {
          double b = 0, power = 1;
          for (double coefficient : tab.b_theta[i]) b += coefficient * power, power *= o.theta;
          return step.h * b;
        });
      } else {  // (1 - theta) y + theta y1
        ybar = ybar.add(g[o.index], o.theta);
        add_source(g[o.index], 1.0 - o.theta, [](int) { return 0.0; });
      }
    }
    add_source(ybar, 1.0, [&](int i) { return step.h * tab.b[i]; });
    if (shared_kbar.defined()) add_source(shared_kbar, 0.0, [&](int i) { return i == s - 1 ? 1.0 : 0.0; });

    // Stages from the last down: each Ybar_i feeds the kbar of the stages it was built from.
    for (int i = s - 1; i >= 1; --i) {
      if (std::all_of(stage_weights[i].begin(), stage_weights[i].end(), [](double w) { return w == 0.0; })) continue;
      const auto kbar = weighted_sum(torch::Tensor(), 1.0, stage_weights[i], sources);
      const auto stage_input = weighted_sum(step.y, step.h, tab.a[i], step.k);
      add_source(pullback(stage_time(tab, i, step.t, step.h, step.ends_at_jump), stage_input, kbar), 1.0,
                 [&](int j) { return j < i && j < static_cast<int>(tab.a[i].size()) ? step.h * tab.a[i][j] : 0.0; });
    }
    // The first stage: the previous step's last (first same as last), or f sampled at the start.
    const bool shared = tab.fsal() && n > 0 && !steps[n - 1].ends_at_jump;
    const auto kbar0 = weighted_sum(torch::Tensor(), 1.0, stage_weights[0], sources);
    if (shared) {
      shared_kbar = kbar0;
    } else {
      shared_kbar = torch::Tensor();
      const bool after_jump = n > 0 ? steps[n - 1].ends_at_jump : starts_after_jump;
      const double t0 = after_jump ? std::nextafter(step.t, std::numeric_limits<double>::infinity()) : step.t;
      add_source(pullback(t0, step.y, kbar0), 1.0, [](int) { return 0.0; });
    }
    ybar = weighted_sum(torch::Tensor(), 1.0, state_weights, sources);
  }
  return ybar;
}

bool tapeless_applies(const Problem& problem) {
  const auto& tab = tableau(problem.options.method());
  if (!problem.vjp || tab.implicit()) return false;
  // Outputs inside a step: the method's interpolant, or a fixed grid's linear one.
  const bool method_interpolant = uses_method_interpolant(tab, problem.options);
  if (method_interpolant ? tab.b_theta.empty() : problem.options.interpolation() != Interpolation::Linear) return false;
  return true;
}

torch::Tensor solve_tapeless(const Problem& problem, const torch::Tensor& y0,
                             const std::shared_ptr<core::Stats>& stats) {
  TimeGradients time_gradients(problem, y0, *stats);
  auto context = c10::make_intrusive<TapelessContext>(problem, stats);
  return time_gradients.outputs(
      TapelessSolve::apply(time_gradients.start(), torch::TensorList(problem.params), context));
}

}  // namespace deepdyn::ode::detail
