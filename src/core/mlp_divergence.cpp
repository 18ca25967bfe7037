// core::mlp_divergence: a network's value with Jacobian-vector products J v_k carried beside it
// (forward mode), J = dy/dx_b the Jacobian block of the last d inputs (d outputs; all of x for a
// square network), so v_k is zero on the first in - d inputs. Every layer's rows are stacked
// [value; tangent 1; ...; tangent m], so one GEMM per layer serves the value and all tangents; the
// bias goes to the value rows only, and the activation pass gives h = act(a) and t_k = act'(a) ta_k.
//
// The backward (vector-Jacobian product of value, divergence and Frobenius estimate) walks the
// same stacked rows back: per layer one GEMM for the weight's gradient, one for the input's, and
// one pass for the activation, where the tangents add a second-order term,
//   a_bar = act'(a) h_bar + act''(a) sum_k t_bar_k ta_k = act'(a) h_bar + (act''/act')(a) sum_k t_bar_k t_k.
#include <utility>

#include "core/detail/mlp_layers.h"
#include "deepdyn/core/mlp.h"

namespace deepdyn::core {
namespace {

using detail::KernelActivation;

/// x's shape with its last dimension `out`: the value's shape, and the probe's.
std::vector<int64_t> output_shape(const torch::Tensor& x, int64_t out) {
  auto shape = x.sizes().vec();
  shape.back() = out;
  return shape;
}

void check_divergence_shapes(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                             const std::vector<torch::Tensor>& biases, const torch::Tensor& probe) {
  detail::check_shapes(x, weights, biases);
  const int64_t in = x.size(-1), out = weights.back().size(0);
  TORCH_CHECK(out <= in, "core::mlp_divergence: the divergence is the trace of dy/dx over the last ", out,
              " inputs (one per output), but x has only ", in, " features: the network needs at most as many ",
              "outputs as inputs");
  TORCH_CHECK(!probe.defined() || probe.sizes() == output_shape(x, out),
              "core::mlp_divergence: the probe must have the output's shape ", c10::IntArrayRef(output_shape(x, out)),
              ", got ", probe.sizes(), " (pass none for the exact trace)");
}

/// x's shape without its last dimension: the shape of the divergence and the Frobenius estimate.
std::vector<int64_t> row_shape(const torch::Tensor& x) {
  auto shape = x.sizes().vec();
  shape.pop_back();
  return shape;
}

/// The directions v_k [m, rows, in]: the probe (m = 1), or the d unit vectors (the exact trace),
/// each in the last d of the in inputs.
torch::Tensor directions(const torch::Tensor& probe2, int64_t rows, int64_t in, int64_t d,
                         const torch::TensorOptions& options) {
  auto block = probe2.defined() ? probe2.unsqueeze(0) : torch::eye(d, options).unsqueeze(1).expand({d, rows, d});
  return in == d ? block : torch::constant_pad_nd(block, {in - d, 0});
}

/// sum_k u_k . t_k per row for t [m, rows, d], with u_k = v_k the directions.
torch::Tensor readout(const torch::Tensor& tangents, const torch::Tensor& probe2) {
  if (probe2.defined()) return (tangents[0] * probe2).sum(1);
  return torch::diagonal(tangents, 0, 0, 2).sum(1);  // t_k[:, k] summed over k
}

/// The number of directions: one probe, or d unit vectors (d = the outputs, the block's width).
int64_t direction_count(int64_t d, const torch::Tensor& probe2) { return probe2.defined() ? 1 : d; }

/// The first layer's input rows [T(x); T'(x) v_1; ...; T'(x) v_m], written in place.
template <class T>
torch::Tensor stacked_input(const torch::Tensor& x2, int64_t d, const torch::Tensor& probe2, MLPInput input) {
  const int64_t rows = x2.size(0), in = x2.size(1), offset = in - d, m = direction_count(d, probe2), n = rows * in;
  torch::Tensor s = at::detail::empty_cpu({(1 + m) * rows, in}, x2.scalar_type());
  const T* x = x2.data_ptr<T>();
  T *value = s.data_ptr<T>(), *tangents = value + n;
  if (!probe2.defined() || offset > 0) std::fill_n(tangents, m * n, T(0));  // a square probe covers them
  if (probe2.defined()) {
    const T* probe = probe2.data_ptr<T>();
    for (int64_t r = 0; r < rows; ++r) std::copy_n(probe + r * d, d, tangents + r * in + offset);
  } else {  // v_k = e_(offset + k) in every row
    for (int64_t k = 0; k < m; ++k)
      for (int64_t r = 0; r < rows; ++r) tangents[k * n + r * in + offset + k] = T(1);
  }
  if (input == MLPInput::Cube) {
    detail::cube_forward<T>(x, value, n);
    for (int64_t k = 0; k < m; ++k)
      for (int64_t i = 0; i < n; ++i) tangents[k * n + i] *= 3 * x[i] * x[i];
  } else {
    std::copy_n(x, n, value);
  }
  return s;
}

/// Every layer's stacked input and, last, the stacked output.
template <class T>
std::vector<torch::Tensor> stacked_layers(const torch::Tensor& s0, int64_t rows,
                                          const std::vector<torch::Tensor>& weights,
                                          const std::vector<torch::Tensor>& biases, Activation activation) {
  const size_t n = weights.size();
  std::vector<torch::Tensor> layers = {s0};
  for (size_t i = 0; i < n; ++i) {
    torch::Tensor a = detail::product_transposed<T>(layers.back(), weights[i], torch::Tensor());
    detail::activate_layer<T>(detail::kernel_activation(activation, i, n), biases[i], a, rows);
    layers.push_back(a);
  }
  return layers;
}

/// value, divergence and Frobenius estimate from the stacked output [value; tangents]: the
/// divergence sum_k u_k . t_k per row (u_k = v_k, the directions), the estimate sum_k |t_k|^2.
template <class T>
MLPDivergence split_output(const torch::Tensor& out, const torch::Tensor& x2, const torch::Tensor& probe2) {
  const int64_t rows = x2.size(0), d = out.size(1), m = direction_count(d, probe2), n = rows * d;
  torch::Tensor divergence = at::detail::empty_cpu({rows}, x2.scalar_type());
  torch::Tensor frobenius = at::detail::empty_cpu({rows}, x2.scalar_type());
  const T* tangents = out.data_ptr<T>() + n;
  const T* probe = probe2.defined() ? probe2.data_ptr<T>() : nullptr;
  T *div = divergence.data_ptr<T>(), *frob = frobenius.data_ptr<T>();
  for (int64_t r = 0; r < rows; ++r) {
    T trace = 0, square = 0;
    for (int64_t k = 0; k < m; ++k) {
      const T* t = tangents + k * n + r * d;
      if (probe)
        for (int64_t j = 0; j < d; ++j) trace += probe[r * d + j] * t[j];
      else
        trace += t[k];
      for (int64_t j = 0; j < d; ++j) square += t[j] * t[j];
    }
    div[r] = trace;
    frob[r] = square;
  }
  return {out.narrow(0, 0, rows).clone(), divergence, frobenius};
}

/// The cotangent of the stacked output [value; tangents] from those of the value [rows, d], the
/// divergence and the Frobenius estimate [rows] (each may be undefined: zero).
template <class T>
torch::Tensor stacked_output_cotangent(const torch::Tensor& x2, const torch::Tensor& probe2, const torch::Tensor& out,
                                       const torch::Tensor& g_value, const torch::Tensor& g_divergence,
                                       const torch::Tensor& g_frobenius) {
  const int64_t rows = x2.size(0), d = out.size(1), m = direction_count(d, probe2), n = rows * d;
  torch::Tensor g = at::detail::empty_cpu({(1 + m) * rows, d}, x2.scalar_type());
  T *value = g.data_ptr<T>(), *tangents = value + n;
  if (g_value.defined())
    std::copy_n(g_value.contiguous().data_ptr<T>(), n, value);
  else
    std::fill_n(value, n, T(0));
  std::fill_n(tangents, m * n, T(0));
  if (g_divergence.defined()) {  // d divergence / d t_k = u_k
    const auto gd_tensor = g_divergence.contiguous();
    const T* gd = gd_tensor.data_ptr<T>();
    const T* probe = probe2.defined() ? probe2.data_ptr<T>() : nullptr;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < m; ++k) {
        T* t = tangents + k * n + r * d;
        if (probe)
          for (int64_t j = 0; j < d; ++j) t[j] += probe[r * d + j] * gd[r];
        else
          t[k] += gd[r];
      }
  }
  if (g_frobenius.defined()) {  // d |t_k|^2 / d t_k = 2 t_k
    const auto gf_tensor = g_frobenius.contiguous();
    const T* gf = gf_tensor.data_ptr<T>();
    const T* t_out = out.data_ptr<T>() + n;
    for (int64_t k = 0; k < m; ++k)
      for (int64_t i = 0; i < n; ++i) tangents[k * n + i] += t_out[k * n + i] * (2 * gf[i / d]);
  }
  return g;
}

/// x2's gradient (when x_grad), and every wanted weight's and bias's gradient added into `targets`
/// (the weights', then the biases'; undefined: not wanted), from the gradients of value [rows, d],
/// divergence and frobenius [rows] (each may be undefined: zero).
template <class T>
torch::Tensor stacked_backward(const torch::Tensor& x2, const torch::Tensor& probe2,
                               const std::vector<torch::Tensor>& layers, const std::vector<torch::Tensor>& weights,
                               const torch::Tensor& g_value, const torch::Tensor& g_divergence,
                               const torch::Tensor& g_frobenius, Activation activation, MLPInput input,
                               const std::vector<torch::Tensor>& targets, bool x_grad) {
  const size_t n = weights.size();
  const int64_t rows = x2.size(0), in = x2.size(1), d = weights.back().size(0), m = direction_count(d, probe2);
  torch::Tensor g = stacked_output_cotangent<T>(x2, probe2, layers.back(), g_value, g_divergence, g_frobenius);
  for (size_t i = n; i-- > 0;) {
    if (targets[i].defined()) detail::add_weight_gradient<T>(targets[i], g, layers[i]);
    if (targets[n + i].defined()) detail::add_bias_gradient<T>(targets[n + i], g, rows);  // value rows only
    if (i == 0 && !x_grad) return torch::Tensor();
    // The first layer's input: x's gradient needs the tangent rows' only through T'(x) (Cube).
    const bool value_rows_only = i == 0 && input == MLPInput::Identity;
    g = detail::product_transposed<T>(value_rows_only ? g.narrow(0, 0, rows) : g, weights[i].t(), torch::Tensor());
    const auto kind = i > 0 ? detail::kernel_activation(activation, i - 1, n) : KernelActivation::Identity;
    if (kind == KernelActivation::Identity) continue;
    const auto& s = layers[i];  // act(a) and the tangents t_k = act'(a) ta_k
    const int64_t block = rows * s.size(1);
    detail::stacked_activation_backward<T>(kind, s.data_ptr<T>(), s.data_ptr<T>() + block, g.data_ptr<T>(),
                                           g.data_ptr<T>() + block, m, block);
  }
  auto gx = g.narrow(0, 0, rows);
  if (input == MLPInput::Cube) {  // T(x) = x^3, T'(x) v_k = 3 x^2 v_k, v_k nonzero on the last d inputs
    const auto block_grads = g.narrow(0, rows, m * rows).view({m, rows, in}).narrow(2, in - d, d);
    const auto g_block = probe2.defined() ? probe2 * block_grads[0] : torch::diagonal(block_grads, 0, 0, 2);
    gx = 3 * x2.square() * gx + 6 * x2 * (in == d ? g_block : torch::constant_pad_nd(g_block, {in - d, 0}));
  }
  return gx.contiguous();
}

template <class T>
std::pair<MLPDivergence, std::vector<torch::Tensor>> fused_divergence(const torch::Tensor& x2,
                                                                      const torch::Tensor& probe2,
                                                                      const std::vector<torch::Tensor>& weights,
                                                                      const std::vector<torch::Tensor>& biases,
                                                                      Activation activation, MLPInput input) {
  const int64_t d = weights.back().size(0);
  auto layers = stacked_layers<T>(stacked_input<T>(x2, d, probe2, input), x2.size(0), weights, biases, activation);
  auto out = split_output<T>(layers.back(), x2, probe2);
  return {std::move(out), std::move(layers)};
}

MLPDivergence shaped(MLPDivergence out, const torch::Tensor& x) {
  const auto rows = row_shape(x);
  return {out.value.view(output_shape(x, out.value.size(-1))), out.divergence.view(rows), out.frobenius.view(rows)};
}

/// Whether mlp_divergence and its vjp run the fused kernels: the network's are, and so is the probe.
bool divergence_is_fused(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                         const std::vector<torch::Tensor>& biases, const torch::Tensor& probe) {
  const bool probe_fusable = !probe.defined() || (probe.device().is_cpu() && probe.layout() == torch::kStrided &&
                                                  probe.scalar_type() == x.scalar_type());
  return probe_fusable && mlp_is_fused(x, weights, biases);
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// The network with its divergence as one autograd node. Saved: x, the probe, the weights and
/// biases, and every layer's stacked rows.
class FusedMLPDivergence : public torch::autograd::Function<FusedMLPDivergence> {
 public:
  /// probe_list: the probe, or empty for the exact trace (an undefined tensor cannot be an input).
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x2, torch::TensorList probe_list,
                               torch::TensorList weight_list, torch::TensorList bias_list, Activation activation,
                               MLPInput input) {
    const auto weights = weight_list.vec(), biases = bias_list.vec();
    const auto probe2 = probe_list.empty() ? torch::Tensor() : probe_list[0];
    auto [out, layers] = AT_DISPATCH_FLOATING_TYPES(x2.scalar_type(), "core::mlp_divergence", [&] {
      return fused_divergence<scalar_t>(x2, probe2, weights, biases, activation, input);
    });
    variable_list saved = {x2};
    saved.insert(saved.end(), probe_list.begin(), probe_list.end());
    saved.insert(saved.end(), weight_list.begin(), weight_list.end());
    saved.insert(saved.end(), bias_list.begin(), bias_list.end());
    saved.insert(saved.end(), layers.begin(), layers.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["layers"] = static_cast<int64_t>(weights.size());
    ctx->saved_data["probes"] = static_cast<int64_t>(probe_list.size());
    ctx->saved_data["activation"] = static_cast<int64_t>(activation);
    ctx->saved_data["input"] = static_cast<int64_t>(input);
    return {out.value, out.divergence, out.frobenius};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto n = static_cast<size_t>(ctx->saved_data["layers"].toInt());
    const auto activation = static_cast<Activation>(ctx->saved_data["activation"].toInt());
    const auto input = static_cast<MLPInput>(ctx->saved_data["input"].toInt());
    const auto probes = ctx->saved_data["probes"].toInt();
    const auto& x2 = saved[0];
    const auto probe2 = probes ? saved[1] : torch::Tensor();
    const auto params = saved.begin() + 1 + probes;  // the weights, then the biases
    const std::vector<torch::Tensor> weights(params, params + n), biases(params + n, params + 2 * n);
    variable_list grads;
    if (torch::GradMode::is_enabled()) {
      // create_graph: the gradient must be differentiable again, so take it from LibTorch's graph.
      variable_list inputs = {x2};
      inputs.insert(inputs.end(), params, params + 2 * n);
      const auto out = mlp_divergence_reference(x2, weights, biases, activation, input, probe2);
      variable_list outputs, seeds;
      const variable_list all = {out.value, out.divergence, out.frobenius};
      for (size_t i = 0; i < all.size(); ++i)
        if (grad_outputs[i].defined()) outputs.push_back(all[i]), seeds.push_back(grad_outputs[i]);
      grads = detail::differentiable_gradients(outputs, inputs, seeds);
    } else {
      const std::vector<torch::Tensor> layers(params + 2 * n, saved.end());
      std::vector<bool> needed(1 + 2 * n);
      needed[0] = ctx->needs_input_grad(0);
      for (size_t i = 0; i < 2 * n; ++i) needed[1 + i] = ctx->needs_input_grad(1 + probes + i);
      auto targets = detail::zero_targets(weights, biases, needed);
      grads = {AT_DISPATCH_FLOATING_TYPES(x2.scalar_type(), "core::mlp_divergence backward", [&] {
        return stacked_backward<scalar_t>(x2, probe2, layers, weights, grad_outputs[0], grad_outputs[1],
                                          grad_outputs[2], activation, input, targets, needed[0]);
      })};
      grads.insert(grads.end(), targets.begin(), targets.end());
    }
    grads.insert(grads.begin() + 1, probes, torch::Tensor());  // the probe is a constant
    grads.push_back(torch::Tensor());                          // activation
    grads.push_back(torch::Tensor());                          // input transform
    return grads;
  }
};

}  // namespace

MLPDivergence mlp_divergence_reference(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                                       const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input,
                                       const torch::Tensor& probe) {
  check_divergence_shapes(x, weights, biases, probe);
  const int64_t in = x.size(-1), d = weights.back().size(0);
  const auto x2 = x.reshape({-1, in});
  const auto probe2 = probe.defined() ? probe.detach().reshape({-1, d}) : probe;
  const auto v = directions(probe2, x2.size(0), in, d, x.options());
  auto h = input == MLPInput::Cube ? x2.pow(3) : x2;
  auto tangents = input == MLPInput::Cube ? 3 * x2.square() * v : v;
  for (size_t i = 0; i < weights.size(); ++i) {
    const auto a = torch::nn::functional::linear(h, weights[i], biases[i]);
    tangents = torch::matmul(tangents, weights[i].t());
    if (i + 1 == weights.size()) {
      h = a;
    } else {
      tangents = activation_slope(activation, a) * tangents;
      h = activate(activation, a);
    }
  }
  return shaped({h, readout(tangents, probe2), tangents.square().sum(torch::IntArrayRef{0, 2})}, x);
}

torch::Tensor mlp_divergence_vjp(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                                 const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input,
                                 const torch::Tensor& probe, const MLPDivergence& cotangents,
                                 const std::vector<torch::Tensor>& weight_grads,
                                 const std::vector<torch::Tensor>& bias_grads, MLPDivergence* value) {
  check_divergence_shapes(x, weights, biases, probe);
  const size_t n = weights.size();
  const auto targets = detail::gradient_targets(n, weight_grads, bias_grads);
  torch::NoGradGuard no_grad;
  const int64_t d = weights.back().size(0);
  auto flat = [&](const torch::Tensor& g, bool per_row) {
    return g.defined() ? g.reshape(per_row ? std::vector<int64_t>{-1} : std::vector<int64_t>{-1, d}) : g;
  };
  const auto g_value = flat(cotangents.value, false), g_divergence = flat(cotangents.divergence, true),
             g_frobenius = flat(cotangents.frobenius, true);
  if (!divergence_is_fused(x, weights, biases, probe)) {
    // LibTorch's autograd on detached copies: the same products, one graph per call.
    torch::AutoGradMode enable_grad(true);
    const auto leaves = detail::reference_leaves(x, weights, biases, targets);
    const auto out =
        mlp_divergence_reference(leaves.inputs[0], leaves.weights, leaves.biases, activation, input, probe);
    std::vector<torch::Tensor> outputs, seeds;
    for (const auto& [output, seed] : {std::pair{out.value, cotangents.value},
                                       {out.divergence, cotangents.divergence},
                                       {out.frobenius, cotangents.frobenius}})
      if (seed.defined()) outputs.push_back(output), seeds.push_back(seed);
    const auto grads = torch::autograd::grad(outputs, leaves.inputs, seeds, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    if (value) *value = {out.value.detach(), out.divergence.detach(), out.frobenius.detach()};
    return detail::add_reference_gradients(targets, grads, x);
  }
  const auto x2 = detail::as_rows(x);
  const auto probe2 = probe.defined() ? probe.detach().reshape({-1, d}).contiguous() : probe;
  const auto gx = AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "core::mlp_divergence_vjp", [&] {
    auto [out, layers] = fused_divergence<scalar_t>(x2, probe2, weights, biases, activation, input);
    if (value) *value = shaped(std::move(out), x);
    return stacked_backward<scalar_t>(x2, probe2, layers, weights, g_value, g_divergence, g_frobenius, activation,
                                      input, targets, /*x_grad=*/true);
  });
  return gx.view(x.sizes());
}

MLPDivergence mlp_divergence(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                             const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input,
                             const torch::Tensor& probe) {
  check_divergence_shapes(x, weights, biases, probe);
  if (!divergence_is_fused(x, weights, biases, probe))
    return mlp_divergence_reference(x, weights, biases, activation, input, probe);
  const int64_t d = weights.back().size(0);
  const auto x2 = detail::as_rows(x);
  const auto probe2 = probe.defined() ? probe.detach().reshape({-1, d}).contiguous() : probe;
  if (!detail::needs_graph(x, weights, biases)) {
    return shaped(AT_DISPATCH_FLOATING_TYPES(
                      x.scalar_type(), "core::mlp_divergence",
                      [&] { return fused_divergence<scalar_t>(x2, probe2, weights, biases, activation, input).first; }),
                  x);
  }
  // TensorList, not std::vector: autograd tracks a list argument's tensors only as a TensorList.
  const auto probe_list = probe2.defined() ? std::vector<torch::Tensor>{probe2} : std::vector<torch::Tensor>{};
  auto out = FusedMLPDivergence::apply(x2, torch::TensorList(probe_list), torch::TensorList(weights),
                                       torch::TensorList(biases), activation, input);
  return shaped({out[0], out[1], out[2]}, x);
}

}  // namespace deepdyn::core
