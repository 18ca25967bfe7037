#include "deepdyn/deq/deq.h"

#include "deepdyn/core/names.h"
#include "deepdyn/deq/jacobian.h"

namespace deepdyn::deq {

namespace {

const core::NameTable<Backward>& backwards() {
  static const core::NameTable<Backward> table(
      "DEQ backward", {{"implicit", Implicit{}}, {"jacobian_free", JacobianFree{}}, {"phantom", Phantom{}}});
  return table;
}

}  // namespace

const std::vector<std::string>& backward_names() { return backwards().names(); }

const std::string& backward_name(const Backward& backward) { return backwards().name_of(backward); }

Backward parse_backward(const std::string& name) { return backwards().parse(name); }

void DEQOptions::validate() const {
  forward().validate();
  TORCH_CHECK(jacobian_probes() >= 0, "jacobian_probes must be >= 0 (0 turns it off), got ", jacobian_probes());
  if (const auto* implicit = std::get_if<Implicit>(&backward())) implicit->solver().validate();
  if (const auto* phantom = std::get_if<Phantom>(&backward())) {
    TORCH_CHECK(phantom->steps() >= 1, "Phantom steps must be >= 1, got ", phantom->steps());
    TORCH_CHECK(phantom->tau() > 0 && phantom->tau() <= 1, "Phantom tau must be in (0, 1], got ", phantom->tau());
  }
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct ImplicitContext : torch::CustomClassHolder {
  ImplicitContext(DEQFunction f, DEQVJP vjp, torch::Tensor z_star, torch::Tensor fz_star, torch::Tensor x,
                  FixedPointOptions solver, std::shared_ptr<core::Stats> stats)
      : f(std::move(f)),
        vjp(std::move(vjp)),
        z_star(std::move(z_star)),
        fz_star(std::move(fz_star)),
        x(std::move(x)),
        solver(std::move(solver)),
        stats(std::move(stats)) {}
  DEQFunction f;
  DEQVJP vjp;
  torch::Tensor z_star, fz_star, x;  // detached
  FixedPointOptions solver;
  std::shared_ptr<core::Stats> stats;
};

/// Identity on f(z*, x) in forward; in backward it turns dL/dz into u = dL/dz (I - J_f(z*))^{-1},
/// which then flows through f's graph to x and the parameters: dL/dtheta = u df/dtheta (the
/// implicit function theorem applied to z* = f(z*, x)).
class ImplicitGradient : public torch::autograd::Function<ImplicitGradient> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& fz,
                               c10::intrusive_ptr<ImplicitContext> context) {
    ctx->saved_data["context"] = c10::IValue::make_capsule(std::move(context));
    return fz.clone();
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto context = c10::static_intrusive_pointer_cast<ImplicitContext>(ctx->saved_data["context"].toCapsule());
    const auto& grad = grad_outputs[0];
    if (!grad.defined()) return {torch::Tensor(), torch::Tensor()};
    // u = u J + grad: each evaluation of the map is one vector-Jacobian product through f, by f's
    // own vjp or through a graph of f at z*.
    FixedPointMap linear_map;
    torch::Tensor z, fz;
    if (context->vjp) {
      linear_map = [&](const torch::Tensor& u) { return context->vjp(context->z_star, context->fz_star, u) + grad; };
    } else {
      torch::AutoGradMode enable_grad(true);
      z = context->z_star.detach().requires_grad_(true);
      fz = context->f(z, context->x);
      linear_map = [&](const torch::Tensor& u) {
        torch::AutoGradMode enable_grad(true);
        return torch::autograd::grad({fz}, {z}, {u}, /*retain_graph=*/true)[0] + grad;
      };
    }
    auto result = solve_fixed_point(linear_map, grad, context->solver);
    auto& stats = *context->stats;
    stats.nfe_backward = result.stats.nfe;
    stats.steps_backward = result.stats.steps;
    stats.termination_backward = result.stats.termination;
    stats.message_backward = std::move(result.stats.message);
    return {result.z, torch::Tensor()};
  }
};

}  // namespace

DEQImpl::DEQImpl(DEQFunction f, DEQOptions options) : f_(std::move(f)), options_(std::move(options)) {
  TORCH_CHECK(f_, "DEQ needs a function f(z, x)");
  options_.validate();
}

DEQOutput DEQImpl::forward(const torch::Tensor& x, const torch::Tensor& z0) {
  DEQOutput out;
  torch::Tensor z_star;
  {
    torch::NoGradGuard no_grad;
    auto result = solve_fixed_point([&](const torch::Tensor& z) { return f_(z, x); }, z0, options_.forward());
    z_star = result.z;
    *out.stats = std::move(result.stats);
    out.residuals = std::move(result.residuals);
  }
  if (!torch::GradMode::is_enabled()) {
    out.z = f_(z_star, x);
    return out;
  }
  // Re-attach: one application of f with grad. z* itself requires grad only when the Jacobian
  // regularizer needs d f / d z at z*.
  auto z_in = options_.jacobian_probes() > 0 ? z_star.clone().requires_grad_(true) : z_star;
  auto fz = f_(z_in, x);
  if (options_.jacobian_probes() > 0) out.jacobian_frobenius = jacobian_frobenius(fz, z_in, options_.jacobian_probes());

  std::visit(
      [&](const auto& mode) {
        using B = std::decay_t<decltype(mode)>;
        if constexpr (std::is_same_v<B, Implicit>) {
          auto context = c10::make_intrusive<ImplicitContext>(f_, options_.vjp(), z_star, fz.detach(), x.detach(),
                                                              mode.solver(), out.stats);
          out.z = ImplicitGradient::apply(fz, context);
        } else if constexpr (std::is_same_v<B, JacobianFree>) {
          out.z = fz;
        } else {
          auto z = z_in + mode.tau() * (fz - z_in);
          for (int64_t k = 1; k < mode.steps(); ++k) z = z + mode.tau() * (f_(z, x) - z);
          out.z = z;
        }
      },
      options_.backward());
  return out;
}

}  // namespace deepdyn::deq
