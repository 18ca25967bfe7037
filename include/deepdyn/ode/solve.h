#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <type_traits>
#include <vector>

#include "deepdyn/ode/options.h"
#include "deepdyn/ode/solution.h"

namespace deepdyn::ode {

/// A vector field dy/dt = f(t, y). `t` is a 0-d tensor of y's dtype and device.
/// A torch::nn::Module holder whose forward(t, y) has this signature converts to it.
using Field = std::function<torch::Tensor(const torch::Tensor& t, const torch::Tensor& y)>;

/// A vector field on a tuple state: returns one derivative per component.
using TupleField =
    std::function<std::vector<torch::Tensor>(const torch::Tensor& t, const std::vector<torch::Tensor>& y)>;

/// Integrates dy/dt = f(t, y) from y(ts[0]) = y0 and returns y at every entry of ts
/// (1-D, strictly increasing or strictly decreasing). ys[0] == y0.
Solution solve(const Field& f, const torch::Tensor& y0, const torch::Tensor& ts,
               const SolveOptions& options = SolveOptions());

/// The same on a tuple state; rtol/atol may hold one value per component.
TupleSolution solve_tuple(const TupleField& f, const std::vector<torch::Tensor>& y0, const torch::Tensor& ts,
                          const SolveOptions& options = SolveOptions());

/// solve() on a tuple state. A template, so that overload resolution never asks whether a
/// module holder converts to TupleField (LibTorch's holders answer with a hard error).
template <class F>
TupleSolution solve(F&& f, const std::vector<torch::Tensor>& y0, const torch::Tensor& ts,
                    const SolveOptions& options = SolveOptions()) {
  return solve_tuple(TupleField(std::forward<F>(f)), y0, ts, options);
}

namespace detail {
/// Whether a module has `FieldVJPResult vjp(t, y, v, param_grads, with_value)` (SolveOptions::vjp).
template <class Impl, class = void>
struct has_vjp : std::false_type {};
template <class Impl>
struct has_vjp<Impl,
               std::void_t<decltype(std::declval<Impl&>().vjp(
                   std::declval<const torch::Tensor&>(), std::declval<const torch::Tensor&>(),
                   std::declval<const torch::Tensor&>(), std::declval<const std::vector<torch::Tensor>&>(), true))>>
    : std::true_type {};
}  // namespace detail

/// A torch::nn::Module (as a holder made by TORCH_MODULE, or a shared_ptr) with
/// `Tensor forward(const Tensor& t, const Tensor& y)` as the field. Adjoint and
/// Checkpointed gradients differentiate the module's parameters unless
/// SolveOptions::params names others. A module with a vjp member (see SolveOptions::vjp) gives
/// it to the solve when neither params nor vjp is set.
template <class Impl, class = std::enable_if_t<std::is_base_of_v<torch::nn::Module, Impl>>>
Solution solve(const std::shared_ptr<Impl>& module, const torch::Tensor& y0, const torch::Tensor& ts,
               const SolveOptions& options = SolveOptions()) {
  TORCH_CHECK(module != nullptr, "ode::solve: the field module is null");
  Field field = [module](const torch::Tensor& t, const torch::Tensor& y) { return module->forward(t, y); };
  if (options.params().has_value()) return solve(field, y0, ts, options);
  auto with_params = SolveOptions(options).params(module->parameters());
  if constexpr (detail::has_vjp<Impl>::value) {
    if (!options.vjp())
      with_params.vjp([module](const torch::Tensor& t, const torch::Tensor& y, const torch::Tensor& v,
                               const std::vector<torch::Tensor>& param_grads,
                               bool with_value) { return module->vjp(t, y, v, param_grads, with_value); });
  }
  return solve(field, y0, ts, with_params);
}

template <class Impl>
Solution solve(const torch::nn::ModuleHolder<Impl>& module, const torch::Tensor& y0, const torch::Tensor& ts,
               const SolveOptions& options = SolveOptions()) {
  return solve(module.ptr(), y0, ts, options);
}

}  // namespace deepdyn::ode
