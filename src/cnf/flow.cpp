#include "deepdyn/cnf/flow.h"

#include "deepdyn/core/math.h"
#include "deepdyn/core/memory.h"
#include "deepdyn/core/tensor_tuple.h"
#include "deepdyn/reg/rnode.h"

namespace deepdyn::cnf {
namespace {

/// f's divergence by autograd: one vector-Jacobian product per dimension (exact trace) or one
/// with the probe (Hutchinson). The divergence needs d f / d z, so f runs with grad enabled even
/// inside a no-grad solve; the graph of the results is kept (create_graph) only when the caller
/// records one, i.e. when they will be differentiated. frobenius from the same products
/// (||e^T df/dz||^2) when asked.
DivergenceField autograd_divergence(ode::Field f, bool frobenius_too) {
  return DivergenceField{
      [f = std::move(f), frobenius_too](const torch::Tensor& t, const torch::Tensor& state,
                                        const torch::Tensor& probe) {
        const bool differentiable = torch::GradMode::is_enabled();
        torch::AutoGradMode enable_grad(true);
        // Outside a recorded graph z becomes a fresh leaf: only d f / d z at this point is needed.
        auto z = differentiable && state.requires_grad() ? state : state.detach().requires_grad_(true);
        auto dz = f(t, z);
        TORCH_CHECK(dz.sizes() == z.sizes(), "the CNF field must return z's shape ", z.sizes(), ", got ", dz.sizes());
        torch::Tensor trace, frobenius;
        if (!probe.defined()) {
          // Row i of df/dz is the gradient of sum_b f_i(z_b): rows of different samples do not mix.
          trace = torch::zeros({z.size(0)}, z.options());
          if (frobenius_too) frobenius = torch::zeros_like(trace);
          for (int64_t i = 0; i < z.size(1); ++i) {
            auto row =
                torch::autograd::grad({dz.select(1, i).sum()}, {z}, {}, /*retain_graph=*/true, differentiable)[0];
            trace = trace + row.select(1, i);
            if (frobenius_too) frobenius = frobenius + core::squared_row_norm(row);
          }
        } else {
          auto vjp = torch::autograd::grad({dz}, {z}, {probe}, /*retain_graph=*/true, differentiable)[0];
          trace = (vjp * probe).sum(1);
          if (frobenius_too) frobenius = core::squared_row_norm(vjp);
        }
        core::MLPDivergence out{dz, trace, frobenius};  // frobenius undefined unless asked for
        if (!differentiable)
          for (auto* d : {&out.value, &out.divergence, &out.frobenius})
            if (d->defined()) *d = d->detach();
        return out;
      },
      /*vjp=*/nullptr, /*parameters=*/{}};
}

/// The augmented field on [z, delta_logp(, E_K, E_J)]; the probe is undefined for the exact trace.
ode::TupleField augmented_field(DivergenceField f, bool regularize, torch::Tensor probe) {
  return [f = std::move(f), regularize, probe = std::move(probe)](const torch::Tensor& t,
                                                                  const std::vector<torch::Tensor>& y) {
    auto out = f.evaluate(t, y[0], probe);
    std::vector<torch::Tensor> derivatives = {out.value, -out.divergence};
    if (regularize) {
      derivatives.push_back(core::squared_row_norm(out.value));
      derivatives.push_back(out.frobenius);
    }
    return derivatives;
  };
}

/// The augmented field's vjp on the flattened state [z, delta_logp] (ode::solve_tuple's layout):
/// d/dt delta_logp = -divergence, so its cotangent w enters as -w; nothing depends on delta_logp.
ode::FieldVJP augmented_vjp(DivergenceField f, torch::Tensor probe, core::TupleLayout layout) {
  return [f = std::move(f), probe = std::move(probe), layout = std::move(layout)](
             const torch::Tensor& t, const torch::Tensor& y, const torch::Tensor& v,
             const std::vector<torch::Tensor>& param_grads, bool with_value) {
    const auto state = core::unflatten(y, layout), cotangent = core::unflatten(v, layout);
    auto r = f.vjp(t, state[0], probe, cotangent[0], -cotangent[1], param_grads, with_value);
    ode::FieldVJPResult out;
    out.y = core::flatten({r.z, core::new_zeros_like(state[1])});
    out.t = r.t;
    if (with_value) out.value = core::flatten({r.value.value, -r.value.divergence});
    return out;
  };
}

/// Whether `given` holds exactly the tensors `expected` does, in order.
bool same_tensors(const std::vector<torch::Tensor>& given, const std::vector<torch::Tensor>& expected) {
  if (given.size() != expected.size()) return false;
  for (size_t i = 0; i < given.size(); ++i)
    if (!given[i].is_same(expected[i])) return false;
  return true;
}

}  // namespace

torch::Tensor standard_normal_log_density(const torch::Tensor& z) {
  const double dim = static_cast<double>(z[0].numel());
  return -0.5 * core::squared_row_norm(z) - 0.5 * dim * core::kLogTwoPi;
}

FlowResult integrate_flow(const ode::Field& f, const torch::Tensor& z0, const torch::Tensor& ts,
                          const FlowOptions& options) {
  return integrate_flow(autograd_divergence(f, options.regularize()), z0, ts, options);
}

FlowResult integrate_flow(const DivergenceField& f, const torch::Tensor& z0, const torch::Tensor& ts,
                          const FlowOptions& options) {
  TORCH_CHECK(z0.dim() == 2, "a CNF state is [batch, dim], got shape ", z0.sizes());
  TORCH_CHECK(ts.dim() == 1 && ts.size(0) == 2, "integrate_flow needs ts = [t0, t1], got shape ", ts.sizes());
  auto zeros = torch::zeros({z0.size(0)}, z0.options());
  std::vector<torch::Tensor> y0 = {z0, zeros};
  auto solver = options.solver();
  if (options.regularize()) {
    y0.push_back(zeros);
    y0.push_back(zeros);
    // The regularizer integrals ride along outside the error norm: they must not cost steps.
    solver.error_control({true, true, false, false});
  }
  const auto probe = options.trace() == TraceEstimator::Exact ? torch::Tensor() : core::draw_noise(options.noise(), z0);
  // The field's own vector-Jacobian product, where its gradients go where the solver's params say.
  if (f.vjp && !options.regularize() && !solver.vjp() && solver.params() &&
      same_tensors(*solver.params(), f.parameters))
    solver.vjp(augmented_vjp(f, probe, core::TupleLayout::of(y0)));
  auto solution = ode::solve(augmented_field(f, options.regularize(), probe), y0, ts, solver);
  FlowResult result;
  result.z = solution.ys[0][1];
  result.delta_logp = solution.ys[1][1];
  if (options.regularize()) {
    result.kinetic = solution.ys[2][1];
    result.jacobian = solution.ys[3][1];
  }
  result.stats = solution.stats;
  return result;
}

}  // namespace deepdyn::cnf
