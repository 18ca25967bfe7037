#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "deepdyn/deq/solver.h"

namespace deepdyn::deq {

namespace detail {
/// Whether a module has `Tensor vjp(z, fz, v)` (DEQOptions::vjp).
template <class Impl, class = void>
struct has_vjp : std::false_type {};
template <class Impl>
struct has_vjp<Impl, std::void_t<decltype(std::declval<Impl&>().vjp(
                         std::declval<const torch::Tensor&>(), std::declval<const torch::Tensor&>(),
                         std::declval<const torch::Tensor&>()))>> : std::true_type {};
}  // namespace detail

/// The weight-tied function of a DEQ: z_{k+1} = f(z_k, x).
using DEQFunction = std::function<torch::Tensor(const torch::Tensor& z, const torch::Tensor& x)>;

/// f's vector-Jacobian product in z without autograd: v^T df/dz at z, where fz = f(z, x) (DEQOptions::vjp).
using DEQVJP = std::function<torch::Tensor(const torch::Tensor& z, const torch::Tensor& fz, const torch::Tensor& v)>;

/// Implicit differentiation (Bai, Kolter & Koltun 2019, eq. 8): dL/dz* (I - J_f)^{-1} is the
/// fixed point u = u J_f(z*) + dL/dz*, found by `solver` from vector-Jacobian products alone.
/// Memory does not depend on the forward iteration count.
struct Implicit {
  /* implicit */ Implicit(FixedPointOptions solver = FixedPointOptions(Broyden{}).tol(1e-6).max_iterations(50))
      : solver_(std::move(solver)) {}
  TORCH_ARG(FixedPointOptions, solver);
};

/// One-step gradient (Fung et al. 2022, "JFB"): (I - J_f)^{-1} replaced by I; backprop through one
/// application of f at z*.
struct JacobianFree {};

/// Phantom gradient (Geng et al. 2021): backprop through `steps` damped steps
/// z <- (1 - tau) z + tau f(z, x) started at z*.
struct Phantom {
  TORCH_ARG(int64_t, steps) = 5;
  TORCH_ARG(double, tau) = 0.5;
};

using Backward = std::variant<Implicit, JacobianFree, Phantom>;
/// "implicit", "jacobian_free", "phantom", in the variant's order.
const std::vector<std::string>& backward_names();
/// The alternative's name, whatever its settings.
const std::string& backward_name(const Backward& backward);
/// Parses one of backward_names() (default settings); an unknown name is refused with the valid list.
Backward parse_backward(const std::string& name);

struct DEQOptions {
  /// The forward fixed-point solve (Broyden by default). The tolerance suits float32 training
  /// (TorchDEQ stops at 1e-3); tighten it for float64 work.
  TORCH_ARG(FixedPointOptions, forward) = FixedPointOptions(Broyden{}).tol(1e-4).max_iterations(50);
  TORCH_ARG(Backward, backward) = Implicit{};
  /// Hutchinson probes of ||J_f(z*)||_F^2 computed in forward for the loss (0: none).
  TORCH_ARG(int64_t, jacobian_probes) = 0;
  /// Optional: f's own vector-Jacobian product in z, for the Implicit backward's linear system
  /// u = u J_f(z*) + dL/dz* (one call per iteration, no graph); the gradients of x and f's
  /// parameters still flow through f's graph at z*. A module with a matching `vjp` member (TanhCell)
  /// sets it when it is not set.
  TORCH_ARG(DEQVJP, vjp) = nullptr;

  // (TORCH_ARG leaves the access private.)
 public:
  /// Refuses inconsistent options with a message that names the setting.
  void validate() const;
};

struct DEQOutput {
  torch::Tensor z;  ///< f(z*, x) on the graph of x and f's parameters (gradients as the backward mode says)
  /// The forward solve's iterations (steps), evaluations and termination; the implicit backward adds
  /// its linear system's (steps_backward, nfe_backward, termination_backward) when it runs.
  std::shared_ptr<core::Stats> stats = std::make_shared<core::Stats>();
  Residuals residuals;               ///< of the forward solve
  torch::Tensor jacobian_frobenius;  ///< [batch] Hutchinson estimate at z*, when jacobian_probes > 0
};

/// A deep equilibrium layer: z* = f(z*, x). The solve runs without a graph; f is then applied once
/// with grad at z* to re-attach the output to x and f's parameters, and the backward mode decides
/// how the gradient flows through it.
class DEQImpl : public torch::nn::Module {
 public:
  explicit DEQImpl(DEQFunction f, DEQOptions options = {});
  /// A module with forward(z, x) as f; registered as the submodule "f" so its parameters are this
  /// layer's. Its `vjp(z, fz, v)`, where it has one, becomes DEQOptions::vjp unless that is set.
  template <class M>
  explicit DEQImpl(torch::nn::ModuleHolder<M> f, DEQOptions options = {})
      : DEQImpl([f](const torch::Tensor& z, const torch::Tensor& x) mutable { return f->forward(z, x); },
                with_module_vjp(f, std::move(options))) {
    register_module("f", f);
  }

  /// z0 is the initial guess; it fixes the state's shape (batch first).
  DEQOutput forward(const torch::Tensor& x, const torch::Tensor& z0);

  const DEQOptions& options() const { return options_; }
  const DEQFunction& function() const { return f_; }

 private:
  template <class M>
  static DEQOptions with_module_vjp(torch::nn::ModuleHolder<M> f, DEQOptions options) {
    if constexpr (detail::has_vjp<M>::value) {
      if (!options.vjp())
        options.vjp([f](const torch::Tensor& z, const torch::Tensor& fz, const torch::Tensor& v) mutable {
          return f->vjp(z, fz, v);
        });
    }
    return options;
  }

  DEQFunction f_;
  DEQOptions options_;
};
TORCH_MODULE(DEQ);

}  // namespace deepdyn::deq
