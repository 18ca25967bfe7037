#pragma once
// The pieces of core::mlp's fused path that its Jacobian-vector products (mlp_divergence) share:
// shapes, the per-layer GEMM and activation pass.
#include <ATen/EmptyTensor.h>
#include <torch/torch.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "core/detail/mlp_kernels.h"
#include "deepdyn/core/activation.h"

namespace deepdyn::core::detail {

inline void check_shapes(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                         const std::vector<torch::Tensor>& biases) {
  TORCH_CHECK(!weights.empty() && weights.size() == biases.size(),
              "core::mlp needs one bias per weight and at least one layer, got ", weights.size(), " weights and ",
              biases.size(), " biases");
  TORCH_CHECK(x.dim() >= 1, "core::mlp: x needs a feature dimension, got a 0-d tensor");
  int64_t width = x.size(-1);
  for (size_t i = 0; i < weights.size(); ++i) {
    TORCH_CHECK(weights[i].dim() == 2 && weights[i].size(1) == width, "core::mlp: layer ", i, " takes ", width,
                " features, so its weight must be [out, ", width, "], got ", weights[i].sizes());
    TORCH_CHECK(biases[i].dim() == 1 && biases[i].size(0) == weights[i].size(0), "core::mlp: layer ", i,
                "'s bias must be [", weights[i].size(0), "], got ", biases[i].sizes());
    width = weights[i].size(0);
  }
}

inline KernelActivation kernel_activation(Activation activation, size_t layer, size_t layers) {
  return layer + 1 == layers ? KernelActivation::Identity : static_cast<KernelActivation>(activation);
}

/// act(y) in place. float64 tanh is LibTorch's: vectorised, where the C library's is not.
template <class T>
void activate_in_place(KernelActivation activation, torch::Tensor& y) {
  if (std::is_same_v<T, double> && activation == KernelActivation::Tanh) {
    y.tanh_();
    return;
  }
  activate<T>(activation, y.data_ptr<T>(), y.numel());
}

/// c = a m^T (+ bias) for a [rows, inner] and m [cols, inner] (nn::Linear's weight layout), by the
/// small-shape kernels where inner or cols is small, else BLAS.
template <class T>
torch::Tensor product_transposed(const torch::Tensor& a, const torch::Tensor& m, const torch::Tensor& bias) {
  const int64_t rows = a.size(0), inner = a.size(1), cols = m.size(0);
  const auto b = bias.defined() ? bias.contiguous() : bias;
  const T* bias_data = b.defined() ? b.data_ptr<T>() : nullptr;
  if (inner <= kFewInner) {
    auto c = at::detail::empty_cpu({rows, cols}, a.scalar_type());
    const auto mt = m.t().contiguous();  // [inner, cols], a few rows
    product_few_inner<T>(a.data_ptr<T>(), rows, inner, mt.data_ptr<T>(), cols, bias_data, c.data_ptr<T>());
    return c;
  }
  if (cols <= kFewColumns) {
    auto c = at::detail::empty_cpu({rows, cols}, a.scalar_type());
    const auto mc = m.contiguous();  // [cols, inner]: one row per column of c
    product_few_columns<T>(a.data_ptr<T>(), rows, inner, mc.data_ptr<T>(), cols, bias_data, c.data_ptr<T>());
    return c;
  }
  return b.defined() ? at::addmm(b, a, m.t()) : at::mm(a, m.t());
}

/// A hidden (or, Identity, the last) layer's pass on its stacked rows [value (rows); tangent
/// blocks] after the GEMM: activate_stacked, with float64 tanh LibTorch's (vectorised, where the
/// kernels' is the C library's).
template <class T>
void activate_layer(KernelActivation activation, const torch::Tensor& bias, torch::Tensor& stacked, int64_t rows) {
  const int64_t width = stacked.size(1), directions = stacked.size(0) / rows - 1, block = rows * width;
  const auto b = bias.contiguous();
  T* s = stacked.data_ptr<T>();
  if (std::is_same_v<T, double> && activation == KernelActivation::Tanh) {
    activate_stacked<T>(KernelActivation::Identity, b.data_ptr<T>(), s, rows, width, 0);
    stacked.narrow(0, 0, rows).tanh_();
    for (int64_t k = 1; k <= directions; ++k) multiply_slope<T>(activation, s, s + k * block, block);
    return;
  }
  activate_stacked<T>(activation, b.data_ptr<T>(), s, rows, width, directions);
}

/// Whether the kernels can add into `target` directly: a contiguous CPU tensor of dtype T.
template <class T>
bool is_direct_target(const torch::Tensor& target) {
  return target.device().is_cpu() && target.scalar_type() == c10::CppTypeToScalarType<T>::value &&
         target.is_contiguous();
}

/// A layer's weight gradient, target [out, in] += g^T x for g [rows, out] and x [rows, in]: by BLAS
/// straight into the target where it can (no product in memory, no second pass to add it).
template <class T>
void add_weight_gradient(const torch::Tensor& target, const torch::Tensor& g, const torch::Tensor& x) {
  if (is_direct_target<T>(target))
    target.addmm_(g.t(), x);
  else
    target.add_(at::mm(g.t(), x));
}

/// A layer's bias gradient, target [out] += the column sums of g's first `rows` rows.
template <class T>
void add_bias_gradient(const torch::Tensor& target, const torch::Tensor& g, int64_t rows) {
  if (!is_direct_target<T>(target)) {
    target.add_(g.narrow(0, 0, rows).sum(0));
    return;
  }
  add_column_sums<T>(g.data_ptr<T>(), rows, g.size(1), target.data_ptr<T>());
}

/// Zero accumulators for the gradients autograd asks of a fused node (needed[1 + i]: target i of
/// gradient_targets' order, weights' then biases'), for the backwards that add into targets.
inline std::vector<torch::Tensor> zero_targets(const std::vector<torch::Tensor>& weights,
                                               const std::vector<torch::Tensor>& biases,
                                               const std::vector<bool>& needed) {
  const size_t n = weights.size();
  std::vector<torch::Tensor> targets(2 * n);
  for (size_t i = 0; i < 2 * n; ++i)
    if (needed[1 + i]) targets[i] = torch::zeros_like(i < n ? weights[i] : biases[i - n], at::MemoryFormat::Contiguous);
  return targets;
}

/// x as contiguous rows [rows, features]: x itself when it already is (no view to make, which costs
/// as much as a small kernel on every call of a field).
inline torch::Tensor as_rows(const torch::Tensor& x) {
  if (x.dim() == 2 && x.is_contiguous()) return x;
  return x.reshape({-1, x.size(-1)}).contiguous();
}

/// rows [rows, features] viewed with x's leading dimensions: rows itself when x has no others.
inline torch::Tensor with_leading_dimensions(const torch::Tensor& rows, const torch::Tensor& x) {
  if (x.dim() == 2) return rows;
  auto shape = x.sizes().vec();
  shape.back() = rows.size(-1);
  return rows.view(shape);
}

/// Whether autograd would record the call: otherwise the autograd node and what it saves are skipped.
inline bool needs_graph(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                        const std::vector<torch::Tensor>& biases) {
  if (!torch::GradMode::is_enabled()) return false;
  auto requires_grad = [](const torch::Tensor& t) { return t.requires_grad(); };  // (`requires` is C++20's)
  return requires_grad(x) || std::any_of(weights.begin(), weights.end(), requires_grad) ||
         std::any_of(biases.begin(), biases.end(), requires_grad);
}

/// The gradients of `outputs` (seeded by `seeds`) for each of `inputs`, themselves differentiable
/// (create_graph): the backward of a fused node that is differentiated again. Undefined for the
/// inputs that do not require grad, which autograd refuses to differentiate for.
inline torch::autograd::variable_list differentiable_gradients(const torch::autograd::variable_list& outputs,
                                                               const torch::autograd::variable_list& inputs,
                                                               const torch::autograd::variable_list& seeds) {
  torch::autograd::variable_list wanted, grads(inputs.size());
  std::vector<size_t> where;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].requires_grad()) wanted.push_back(inputs[i]), where.push_back(i);
  if (wanted.empty()) return grads;
  const auto found = torch::autograd::grad(outputs, wanted, seeds, /*retain_graph=*/true, /*create_graph=*/true,
                                           /*allow_unused=*/true);
  for (size_t k = 0; k < where.size(); ++k) grads[where[k]] = found[k];
  return grads;
}

/// Detached copies of x, the weights and the biases for a vector-Jacobian product by LibTorch's
/// autograd (the fallback of mlp_vjp and mlp_divergence_vjp): `inputs` are x and the parameters
/// whose gradient is wanted (targets: the weights', then the biases'; undefined: not wanted).
struct ReferenceLeaves {
  std::vector<torch::Tensor> inputs, weights, biases;
};

inline ReferenceLeaves reference_leaves(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                                        const std::vector<torch::Tensor>& biases,
                                        const std::vector<torch::Tensor>& targets) {
  const size_t n = weights.size();
  ReferenceLeaves leaves;
  leaves.inputs.push_back(x.detach().requires_grad_(true));
  for (size_t i = 0; i < 2 * n; ++i) {
    auto leaf = (i < n ? weights[i] : biases[i - n]).detach().requires_grad_(targets[i].defined());
    (i < n ? leaves.weights : leaves.biases).push_back(leaf);
    if (targets[i].defined()) leaves.inputs.push_back(leaf);
  }
  return leaves;
}

/// Adds autograd's gradients for reference_leaves' inputs (x first) into the defined targets;
/// returns x's (zeros where autograd found x unused).
inline torch::Tensor add_reference_gradients(const std::vector<torch::Tensor>& targets,
                                             const torch::autograd::variable_list& grads, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  size_t next = 1;
  for (const auto& target : targets) {
    if (!target.defined()) continue;
    if (grads[next].defined()) target.add_(grads[next]);
    ++next;
  }
  return grads[0].defined() ? grads[0] : torch::zeros_like(x);
}

/// The weights' then the biases' gradient accumulators, undefined past the given vectors.
inline std::vector<torch::Tensor> gradient_targets(size_t layers, const std::vector<torch::Tensor>& weight_grads,
                                                   const std::vector<torch::Tensor>& bias_grads) {
  std::vector<torch::Tensor> targets(2 * layers);
  for (size_t i = 0; i < layers; ++i) {
    if (i < weight_grads.size()) targets[i] = weight_grads[i];
    if (i < bias_grads.size()) targets[layers + i] = bias_grads[i];
  }
  return targets;
}

}  // namespace deepdyn::core::detail
