#include "deepdyn/core/mlp.h"

#include <algorithm>

#include "core/detail/cpu_features.h"
#include "core/detail/mlp_kernels.h"
#include "core/detail/mlp_layers.h"

namespace deepdyn::core {
namespace {

using detail::activate_in_place;
using detail::check_shapes;
using detail::kernel_activation;
using detail::KernelActivation;
using detail::needs_graph;
using detail::product_transposed;
static_assert(static_cast<int>(Activation::Tanh) == static_cast<int>(KernelActivation::Tanh) &&
                  static_cast<int>(Activation::Softplus) == static_cast<int>(KernelActivation::Softplus) &&
                  static_cast<int>(Activation::Sigmoid) == static_cast<int>(KernelActivation::Sigmoid) &&
                  static_cast<int>(Activation::Elu) == static_cast<int>(KernelActivation::Elu) &&
                  static_cast<int>(Activation::Identity) == static_cast<int>(KernelActivation::Identity),
              "core::Activation and the kernels' activations must list the same values in the same order");

/// Every layer's input and, last, the network's value (unless hidden_only), from x2 [rows, in]: per
/// layer one GEMM with the bias and one pass for the activation.
template <class T>
std::vector<torch::Tensor> forward_layers(const torch::Tensor& x2, const std::vector<torch::Tensor>& weights,
                                          const std::vector<torch::Tensor>& biases, Activation activation,
                                          MLPInput input, bool hidden_only = false) {
  std::vector<torch::Tensor> layers;
  auto u = x2;
  if (input == MLPInput::Cube) {
    u = torch::empty_like(x2);
    detail::cube_forward<T>(x2.data_ptr<T>(), u.data_ptr<T>(), x2.numel());
  }
  layers.push_back(u);
  for (size_t i = 0; i + (hidden_only ? 1 : 0) < weights.size(); ++i) {
    auto y = product_transposed<T>(layers.back(), weights[i], biases[i]);
    activate_in_place<T>(kernel_activation(activation, i, weights.size()), y);
    layers.push_back(y);
  }
  return layers;
}

/// x2's gradient (when x_grad) from the output's gradient g [rows, out], and every wanted weight's
/// and bias's gradient added into `targets` (the weights', then the biases'; undefined: not
/// wanted), given each layer's input and the hidden layers' outputs (forward_layers' tensors but
/// the last): per layer one pass for the activation's slope and two GEMMs.
template <class T>
torch::Tensor backward_layers(const torch::Tensor& x2, const std::vector<torch::Tensor>& layers,
                              const std::vector<torch::Tensor>& weights, torch::Tensor g, Activation activation,
                              MLPInput input, const std::vector<torch::Tensor>& targets, bool x_grad) {
  const size_t n = weights.size();
  g = g.contiguous().clone();  // the slope is applied in place
  for (size_t i = n; i-- > 0;) {
    const auto kind = kernel_activation(activation, i, n);
    if (kind != KernelActivation::Identity)  // the last layer has none
      detail::multiply_slope<T>(kind, layers[i + 1].data_ptr<T>(), g.data_ptr<T>(), g.numel());
    if (targets[i].defined()) detail::add_weight_gradient<T>(targets[i], g, layers[i]);
    if (targets[n + i].defined()) detail::add_bias_gradient<T>(targets[n + i], g, g.size(0));
    if (i == 0 && !x_grad) return torch::Tensor();
    g = product_transposed<T>(g, weights[i].t(), torch::Tensor());
  }
  if (input == MLPInput::Cube) {
    auto gx = torch::empty_like(x2);
    detail::cube_backward<T>(x2.data_ptr<T>(), g.data_ptr<T>(), gx.data_ptr<T>(), x2.numel());
    return gx;
  }
  return g;
}

/// Whether the network is narrow (one hidden layer between at most kNarrow inputs and outputs),
/// which the narrow kernels compute block by block without the hidden layer in memory. Not for
/// float64 tanh, which is LibTorch's (vectorised) on the general path and scalar in the kernels.
bool is_narrow(const torch::Tensor& x2, const std::vector<torch::Tensor>& weights, Activation activation) {
  return weights.size() == 2 && x2.size(1) <= detail::kNarrow && weights[1].size(0) <= detail::kNarrow &&
         !(x2.scalar_type() == torch::kFloat64 && activation == Activation::Tanh);
}

/// The narrow kernels' view of the network; `weights` and `biases` must outlive it.
template <class T>
detail::NarrowNet<T> narrow_net(const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& biases,
                                Activation activation, MLPInput input) {
  return {
      weights[0].data_ptr<T>(), biases[0].data_ptr<T>(), weights[1].data_ptr<T>(), biases[1].data_ptr<T>(),
      weights[0].size(1),       weights[0].size(0),      weights[1].size(0),       kernel_activation(activation, 0, 2),
      input == MLPInput::Cube};
}

std::vector<torch::Tensor> contiguous(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> out;
  for (const auto& t : tensors) out.push_back(t.contiguous());
  return out;
}

/// The narrow network's value at x2 [rows, in] as [rows, out]; with `hidden`, its hidden layer
/// kept for narrow_gradients.
template <class T>
torch::Tensor narrow_value(const torch::Tensor& x2, const std::vector<torch::Tensor>& weights,
                           const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input,
                           torch::Tensor* hidden = nullptr) {
  const auto w = contiguous(weights), b = contiguous(biases);
  torch::Tensor out = at::detail::empty_cpu({x2.size(0), w[1].size(0)}, x2.scalar_type());
  if (hidden) *hidden = torch::empty({detail::narrow_hidden_size(w[0].size(0), x2.size(0))}, x2.options());
  detail::narrow_forward<T>(narrow_net<T>(w, b, activation, input), x2.data_ptr<T>(), x2.size(0), out.data_ptr<T>(),
                            hidden ? hidden->data_ptr<T>() : nullptr);
  return out;
}

/// The network's value at x2 [rows, in] as [rows, out]: by the narrow kernels, or layer by layer.
template <class T>
torch::Tensor network_value(const torch::Tensor& x2, const std::vector<torch::Tensor>& weights,
                            const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input) {
  if (is_narrow(x2, weights, activation)) return narrow_value<T>(x2, weights, biases, activation, input);
  return forward_layers<T>(x2, weights, biases, activation, input).back();
}

/// narrow_backward's gradients for x2, the weights and the biases (backward_layers' order), from
/// the hidden layer narrow_value kept (or, undefined, recomputed); those not needed are left
/// undefined.
template <class T>
std::vector<torch::Tensor> narrow_gradients(const torch::Tensor& x2, const torch::Tensor& hidden,
                                            const std::vector<torch::Tensor>& weights,
                                            const std::vector<torch::Tensor>& biases, const torch::Tensor& g,
                                            Activation activation, MLPInput input, const std::vector<bool>& needed) {
  const auto w = contiguous(weights), b = contiguous(biases);
  const std::vector<torch::Tensor> shapes = {x2, w[0], w[1], b[0], b[1]};
  std::vector<torch::Tensor> grads(5);
  for (size_t i = 0; i < grads.size(); ++i)
    if (needed[i]) grads[i] = i == 0 ? torch::empty_like(x2) : torch::zeros_like(shapes[i]);
  auto data = [&](size_t i) { return grads[i].defined() ? grads[i].data_ptr<T>() : nullptr; };
  detail::narrow_backward<T>(narrow_net<T>(w, b, activation, input), x2.data_ptr<T>(),
                             hidden.defined() ? hidden.data_ptr<T>() : nullptr, g.contiguous().data_ptr<T>(),
                             x2.size(0), data(0), data(1), data(3), data(2), data(4));
  return grads;
}

thread_local bool recompute_activations = false;  // RecomputeActivationsGuard's switch

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// The whole network as one autograd node. Saved: x, the weights and biases (inputs), and every
/// layer's input (a narrow network: its hidden layer as the narrow kernels lay it out) unless a
/// RecomputeActivationsGuard is alive, in which case backward recomputes them.
class FusedMLP : public torch::autograd::Function<FusedMLP> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, torch::TensorList weight_list,
                               torch::TensorList bias_list, Activation activation, MLPInput input) {
    const auto weights = weight_list.vec(), biases = bias_list.vec();
    const auto x2 = detail::as_rows(x);
    const bool store = !recompute_activations;
    auto layers = AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "core::mlp", [&] {
      if (is_narrow(x2, weights, activation)) {  // [hidden layer, value]
        torch::Tensor hidden;
        auto value = narrow_value<scalar_t>(x2, weights, biases, activation, input, store ? &hidden : nullptr);
        return std::vector<torch::Tensor>{hidden, value};
      }
      return store ? forward_layers<scalar_t>(x2, weights, biases, activation, input)
                   : std::vector<torch::Tensor>{network_value<scalar_t>(x2, weights, biases, activation, input)};
    });
    auto out = detail::with_leading_dimensions(layers.back(), x);
    // Each layer's input; the last layer's output is not needed (no activation after it).
    variable_list saved = {x};
    saved.insert(saved.end(), weight_list.begin(), weight_list.end());
    saved.insert(saved.end(), bias_list.begin(), bias_list.end());
    if (store) saved.insert(saved.end(), layers.begin(), layers.end() - 1);
    ctx->save_for_backward(saved);
    ctx->saved_data["layers"] = static_cast<int64_t>(weights.size());
    ctx->saved_data["activation"] = static_cast<int64_t>(activation);
    ctx->saved_data["input"] = static_cast<int64_t>(input);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto n = static_cast<size_t>(ctx->saved_data["layers"].toInt());
    const auto activation = static_cast<Activation>(ctx->saved_data["activation"].toInt());
    const auto input = static_cast<MLPInput>(ctx->saved_data["input"].toInt());
    const auto& x = saved[0];
    const std::vector<torch::Tensor> weights(saved.begin() + 1, saved.begin() + 1 + n),
        biases(saved.begin() + 1 + n, saved.begin() + 1 + 2 * n);
    variable_list grads;
    if (torch::GradMode::is_enabled()) {
      // create_graph: the gradient must be differentiable again, so take it from LibTorch's graph.
      variable_list inputs = {x};
      inputs.insert(inputs.end(), saved.begin() + 1, saved.begin() + 1 + 2 * n);
      auto y = mlp_reference(x, weights, biases, activation, input);
      grads = detail::differentiable_gradients({y}, inputs, {grad_outputs[0]});
    } else {
      std::vector<torch::Tensor> layers(saved.begin() + 1 + 2 * n, saved.end());
      const auto g = grad_outputs[0].reshape({-1, weights.back().size(0)});
      const auto x2 = detail::as_rows(x);
      std::vector<bool> needed(1 + 2 * n);
      for (size_t i = 0; i < needed.size(); ++i) needed[i] = ctx->needs_input_grad(i);
      grads = AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "core::mlp backward", [&] {
        if (is_narrow(x2, weights, activation))
          return narrow_gradients<scalar_t>(x2, layers.empty() ? torch::Tensor() : layers[0], weights, biases, g,
                                            activation, input, needed);
        if (layers.empty())  // recomputed: the same kernels on the same input give the same values
          layers = forward_layers<scalar_t>(x2, weights, biases, activation, input, /*hidden_only=*/true);
        auto targets = detail::zero_targets(weights, biases, needed);
        std::vector<torch::Tensor> all = {
            backward_layers<scalar_t>(x2, layers, weights, g, activation, input, targets, needed[0])};
        all.insert(all.end(), targets.begin(), targets.end());
        return all;
      });
      if (grads[0].defined()) grads[0] = grads[0].view(x.sizes());
    }
    grads.push_back(torch::Tensor());  // activation
    grads.push_back(torch::Tensor());  // input transform
    return grads;
  }
};

/// The network's value alone (no graph, nothing saved).
torch::Tensor fused_value(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                          const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input) {
  const auto x2 = detail::as_rows(x);
  auto out = AT_DISPATCH_FLOATING_TYPES(
      x.scalar_type(), "core::mlp", [&] { return network_value<scalar_t>(x2, weights, biases, activation, input); });
  return detail::with_leading_dimensions(out, x);
}

/// A gradient accumulator the kernels can add into directly: `target` itself where they can
/// (detail::is_direct_target), else a zero tensor of its shape to be added into it afterwards.
template <class T>
torch::Tensor direct_accumulator(const torch::Tensor& target, const torch::Tensor& x) {
  if (!target.defined() || detail::is_direct_target<T>(target)) return target;
  return torch::zeros(target.sizes(), x.options());
}

/// mlp_vjp on the fused kernels, for x2 [rows, in] and g2 [rows, out]; `targets` holds the
/// weights' gradients then the biases' (undefined: not needed).
template <class T>
torch::Tensor fused_vjp(const torch::Tensor& x2, const std::vector<torch::Tensor>& weights,
                        const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input,
                        const torch::Tensor& g2, const std::vector<torch::Tensor>& targets, torch::Tensor* value) {
  if (is_narrow(x2, weights, activation)) {
    torch::Tensor hidden;
    if (value) *value = narrow_value<T>(x2, weights, biases, activation, input, &hidden);
    std::vector<torch::Tensor> sums;
    for (const auto& target : targets) sums.push_back(direct_accumulator<T>(target, x2));
    const auto w = contiguous(weights), b = contiguous(biases);
    auto gx = torch::empty_like(x2);
    auto data = [&](size_t i) { return sums[i].defined() ? sums[i].data_ptr<T>() : nullptr; };
    detail::narrow_backward<T>(narrow_net<T>(w, b, activation, input), x2.data_ptr<T>(),
                               hidden.defined() ? hidden.data_ptr<T>() : nullptr, g2.data_ptr<T>(), x2.size(0),
                               gx.data_ptr<T>(), data(0), data(2), data(1), data(3));
    for (size_t i = 0; i < targets.size(); ++i)
      if (sums[i].defined() && !sums[i].is_same(targets[i])) targets[i].add_(sums[i]);
    return gx;
  }
  auto layers = forward_layers<T>(x2, weights, biases, activation, input, /*hidden_only=*/value == nullptr);
  if (value) *value = layers.back();
  return backward_layers<T>(x2, layers, weights, g2, activation, input, targets, /*x_grad=*/true);
}

}  // namespace

torch::Tensor mlp_vjp(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                      const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input,
                      const torch::Tensor& g, const std::vector<torch::Tensor>& weight_grads,
                      const std::vector<torch::Tensor>& bias_grads, torch::Tensor* value) {
  check_shapes(x, weights, biases);
  auto out_shape = x.sizes().vec();
  out_shape.back() = weights.back().size(0);
  TORCH_CHECK(g.sizes() == out_shape, "core::mlp_vjp: the cotangent must have the output's shape ", out_shape, ", got ",
              g.sizes());
  const auto targets = detail::gradient_targets(weights.size(), weight_grads, bias_grads);
  torch::NoGradGuard no_grad;
  if (!mlp_is_fused(x, weights, biases)) {
    // LibTorch's autograd on detached copies: the same products, one graph per call.
    torch::AutoGradMode enable_grad(true);
    const auto leaves = detail::reference_leaves(x, weights, biases, targets);
    auto y = mlp_reference(leaves.inputs[0], leaves.weights, leaves.biases, activation, input);
    const auto grads = torch::autograd::grad({y}, leaves.inputs, {g});
    if (value) *value = y.detach();
    return detail::add_reference_gradients(targets, grads, x);
  }
  const auto x2 = detail::as_rows(x), g2 = detail::as_rows(g);
  auto gx = AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "core::mlp_vjp", [&] {
    return fused_vjp<scalar_t>(x2, weights, biases, activation, input, g2, targets, value);
  });
  if (value) *value = detail::with_leading_dimensions(*value, x);
  return detail::with_leading_dimensions(gx, x);
}

RecomputeActivationsGuard::RecomputeActivationsGuard() : previous_(recompute_activations) {
  recompute_activations = true;
}

RecomputeActivationsGuard::~RecomputeActivationsGuard() { recompute_activations = previous_; }

bool mlp_is_fused(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                  const std::vector<torch::Tensor>& biases) {
  auto fusable = [&](const torch::Tensor& t) {
    return t.device().is_cpu() && t.layout() == torch::kStrided && t.scalar_type() == x.scalar_type();
  };
  if (!detail::cpu_has_avx2_fma() || !(x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64))
    return false;
  if (!fusable(x) || x.numel() == 0) return false;
  for (const auto& w : weights)
    if (!fusable(w)) return false;
  for (const auto& b : biases)
    if (!fusable(b)) return false;
  return true;
}

torch::Tensor mlp_reference(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                            const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input) {
  check_shapes(x, weights, biases);
  auto h = input == MLPInput::Cube ? x.pow(3) : x;
  for (size_t i = 0; i < weights.size(); ++i) {
    h = torch::nn::functional::linear(h, weights[i], biases[i]);
    if (i + 1 < weights.size()) h = activate(activation, h);
  }
  return h;
}

torch::Tensor mlp(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                  const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input) {
  check_shapes(x, weights, biases);
  if (!mlp_is_fused(x, weights, biases)) return mlp_reference(x, weights, biases, activation, input);
  if (!needs_graph(x, weights, biases)) return fused_value(x, weights, biases, activation, input);
  // TensorList, not std::vector: autograd tracks a list argument's tensors only as a TensorList.
  return FusedMLP::apply(x, torch::TensorList(weights), torch::TensorList(biases), activation, input);
}

}  // namespace deepdyn::core
