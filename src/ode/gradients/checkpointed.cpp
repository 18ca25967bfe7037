// The Checkpointed gradient: the exact gradient of the discrete solve (what Direct
// computes) with memory that grows like the square root of the number of steps
// (Griewank & Walther, "Evaluating Derivatives", ch. 12: one level of checkpoints).
// The forward solve runs without a graph, records the accepted step times and keeps
// the state at every stride-th step; the backward pass re-runs each segment from
// its checkpoint, on exactly the recorded steps, and backpropagates through it
// before moving to the segment before: with autograd, or, for a field with its own
// vector-Jacobian product (tapeless_applies), re-run without a graph and swept back
// by the Direct gradient's discrete adjoint (reverse_sweep.h).
#include <cmath>

#include "ode/detail/reverse_sweep.h"

namespace deepdyn::ode::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// Checkpoints thinned on the fly: when there are more than the limit, every other one is
/// dropped and the stride doubles, so about sqrt(steps) (or the requested number) remain.
class CheckpointLog {
 public:
  explicit CheckpointLog(int64_t requested) : requested_(requested) {}

  void start(double t0, const torch::Tensor& y0) {
    times_ = {t0};
    ends_at_jump_ = {false};
    steps_ = {0};
    states_ = {y0};
  }

  void accepted(double t1, const torch::Tensor& y1, bool ends_at_jump) {
    times_.push_back(t1);
    ends_at_jump_.push_back(ends_at_jump);
    const auto step = static_cast<int64_t>(times_.size()) - 1;
    if (step % stride_ != 0) return;
    steps_.push_back(step);
    states_.push_back(y1);
    if (static_cast<int64_t>(steps_.size()) > limit(step)) thin();
  }

  const std::vector<double>& times() const { return times_; }
  /// Whether the step that ended at times()[step] ended at a jump_ts time.
  bool ends_at_jump(int64_t step) const { return ends_at_jump_[step]; }
  const std::vector<int64_t>& steps() const { return steps_; }
  const std::vector<torch::Tensor>& states() const { return states_; }

 private:
  int64_t limit(int64_t step) const {
    if (requested_ > 0) return 2 * requested_;
    return std::max<int64_t>(4, 2 * static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(step)))));
  }

  void thin() {
    stride_ *= 2;
    std::vector<int64_t> steps;
    std::vector<torch::Tensor> states;
    for (size_t i = 0; i < steps_.size(); ++i)
      if (steps_[i] % stride_ == 0) steps.push_back(steps_[i]), states.push_back(states_[i]);
    steps_.swap(steps);
    states_.swap(states);
  }

  int64_t requested_;
  int64_t stride_ = 1;
  std::vector<double> times_;       ///< every accepted step's end time (a few bytes per step)
  std::vector<bool> ends_at_jump_;  ///< per step, like times_
  std::vector<int64_t> steps_;
  std::vector<torch::Tensor> states_;
};

struct CheckpointContext : torch::CustomClassHolder {
  CheckpointContext(Problem p, std::shared_ptr<core::Stats> s, int64_t checkpoints)
      : problem(std::move(p)), stats(std::move(s)), log(checkpoints) {}
  Problem problem;
  std::shared_ptr<core::Stats> stats;
  CheckpointLog log;
};

/// The cotangent of a segment's start state `start` by autograd through its re-run on `grid`, from
/// `adjoint` (that of its end state) and g[begin..end) (its outputs'); the parameters' cotangents
/// are added into param_grads (problem.params' order; `params` are the trained ones).
torch::Tensor backprop_segment(const Problem& problem, CountingField& f, const torch::Tensor& start,
                               const std::vector<double>& grid, size_t begin, size_t end, bool after_jump,
                               const torch::Tensor& g, const torch::Tensor& adjoint,
                               const std::vector<torch::Tensor>& params, std::vector<torch::Tensor>& param_grads) {
  torch::AutoGradMode enable_grad(true);
  const auto y = start.detach().requires_grad_(true);
  const std::vector<double> outputs(problem.times.begin() + begin, problem.times.begin() + end);
  auto values = replay(f, y, grid, outputs, problem.options, problem.tol, after_jump);  // outputs..., end state
  variable_list grad_values;
  for (size_t j = begin; j < end; ++j) grad_values.push_back(g[j]);
  grad_values.push_back(adjoint);
  std::vector<torch::Tensor> inputs = {y};
  inputs.insert(inputs.end(), params.begin(), params.end());
  auto grads = torch::autograd::grad(values, inputs, grad_values, /*retain_graph=*/false,
                                     /*create_graph=*/false, /*allow_unused=*/true);
  size_t next = 1;
  for (auto& grad : param_grads) {
    if (!grad.defined()) continue;  // not trained
    if (grads[next].defined()) grad.add_(grads[next]);
    ++next;
  }
  return grads[0].defined() ? grads[0] : torch::zeros_like(start);
}

class CheckpointedSolve : public torch::autograd::Function<CheckpointedSolve> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& y0, torch::TensorList /*params*/,
                               c10::intrusive_ptr<CheckpointContext> context) {
    const auto& problem = context->problem;
    auto& log = context->log;
    log.start(problem.times.front(), y0);
    auto f = problem.counting_field(y0);
    auto r = integrate(f, y0, problem.times, problem.options, problem.tol,
                       [&log](const AcceptedStep& s) { log.accepted(s.t1, s.step.y1, s.ends_at_jump); });
    auto ys = finish(problem, r, *context->stats);
    ctx->saved_data["context"] = c10::IValue::make_capsule(context);
    return ys;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto context = c10::static_intrusive_pointer_cast<CheckpointContext>(ctx->saved_data["context"].toCapsule());
    const Problem& problem = context->problem;
    const auto& log = context->log;
    const auto& grid = log.times();
    const auto& outputs = problem.times;
    const auto g = grad_outputs[0];

    const bool tapeless = tapeless_applies(problem);
    const auto params = trainable(problem.params);
    auto param_grads = zero_parameter_gradients(problem.params);  // problem.params' order
    int64_t vjps = 0;

    torch::Tensor adjoint = torch::zeros_like(g[0]);  // dL/d(state at the end of the current segment)
    auto f = problem.counting_field(g);
    size_t next_output = outputs.size();  // outputs [first, next_output) are still to be handled
    const auto segments = log.steps().size();
    for (size_t seg = segments; seg-- > 0;) {
      const int64_t first = log.steps()[seg];
      const int64_t last = seg + 1 < segments ? log.steps()[seg + 1] : static_cast<int64_t>(grid.size()) - 1;
      if (first == last) continue;
      const std::vector<double> sub_grid(grid.begin() + first, grid.begin() + last + 1);
      size_t begin = next_output;
      while (begin > 1 && outputs[begin - 1] > sub_grid.front()) --begin;
      const bool after_jump = log.ends_at_jump(first);
      if (tapeless) {
        torch::NoGradGuard no_grad;
        std::vector<RecordedStep> steps;
        replay(f, log.states()[seg], sub_grid, {}, problem.options, problem.tol, after_jump, record_into(steps));
        adjoint = sweep_steps(problem, steps, g, begin, after_jump, adjoint, param_grads, vjps);
      } else {
        adjoint = backprop_segment(problem, f, log.states()[seg], sub_grid, begin, next_output, after_jump, g, adjoint,
                                   params, param_grads);
      }
      context->stats->steps_backward += last - first;
      next_output = begin;
    }
    context->stats->nfe_backward += f.nfe() + vjps;

    variable_list result = {adjoint + g[0]};
    result.insert(result.end(), param_grads.begin(), param_grads.end());  // undefined where not trained
    result.push_back(torch::Tensor());                                    // the context
    return result;
  }
};

}  // namespace

torch::Tensor solve_checkpointed(const Problem& problem, const torch::Tensor& y0,
                                 const std::shared_ptr<core::Stats>& stats, const Checkpointed& checkpointed) {
  TimeGradients time_gradients(problem, y0, *stats);
  auto context = c10::make_intrusive<CheckpointContext>(problem, stats, checkpointed.checkpoints());
  return time_gradients.outputs(
      CheckpointedSolve::apply(time_gradients.start(), torch::TensorList(problem.params), context));
}

}  // namespace deepdyn::ode::detail
