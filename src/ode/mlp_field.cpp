#include "deepdyn/ode/mlp_field.h"

#include <ATen/ExpandUtils.h>

#include "deepdyn/core/math.h"
#include "deepdyn/core/mlp.h"

namespace deepdyn::ode {

void MLPFieldOptions::validate() const {
  TORCH_CHECK(dim() >= 1, "MLPField: dim must be >= 1, got ", dim());
  TORCH_CHECK(!hidden().empty(), "MLPField: hidden needs at least one width");
  for (auto h : hidden()) TORCH_CHECK(h >= 1, "MLPField: hidden widths must be >= 1, got ", h);
}

MLPFieldImpl::MLPFieldImpl(MLPFieldOptions options) : options_(std::move(options)) {
  options_.validate();
  std::vector<int64_t> widths = {options_.dim() + (options_.time_input() ? 1 : 0)};
  widths.insert(widths.end(), options_.hidden().begin(), options_.hidden().end());
  widths.push_back(options_.dim());
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    torch::nn::Linear layer(widths[i], widths[i + 1]);
    torch::NoGradGuard no_grad;
    layer->weight.normal_(0, 0.1);
    layer->bias.zero_();
    layers->push_back(layer);
  }
  register_module("layers", layers);
  shift = register_buffer("shift", torch::zeros({options_.dim()}));
  scale = register_buffer("scale", torch::ones({options_.dim()}));
}

namespace {

/// What the network sees at (t, u): u, cubed by the network itself with cube_input, or with
/// time_input [u (cubed here), t], t joining the input after the cube.
std::pair<torch::Tensor, core::MLPInput> network_input(const MLPFieldOptions& options, const torch::Tensor& t,
                                                       torch::Tensor u) {
  if (!options.time_input()) return {u, options.cube_input() ? core::MLPInput::Cube : core::MLPInput::Identity};
  if (options.cube_input()) u = u.pow(3);
  auto rows = u.sizes().vec();
  rows.back() = 1;
  return {torch::cat({u, t.to(u.dtype()).expand(rows)}, -1), core::MLPInput::Identity};
}

}  // namespace

std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> MLPFieldImpl::weights_and_biases() const {
  std::vector<torch::Tensor> weights, biases;
  for (const auto& layer : *layers) {
    weights.push_back(layer->as<torch::nn::Linear>()->weight);
    biases.push_back(layer->as<torch::nn::Linear>()->bias);
  }
  return {weights, biases};
}

torch::Tensor MLPFieldImpl::forward(const torch::Tensor& t, const torch::Tensor& y) {
  const auto [input, transform] = network_input(options_, t, (y - shift) / scale);
  const auto [weights, biases] = weights_and_biases();
  return scale * core::mlp(input, weights, biases, options_.activation(), transform);
}

FieldVJPResult MLPFieldImpl::vjp(const torch::Tensor& t, const torch::Tensor& y, const torch::Tensor& v,
                                 const std::vector<torch::Tensor>& param_grads, bool with_value) {
  torch::NoGradGuard no_grad;
  const auto u = (y - shift) / scale;
  const auto [input, transform] = network_input(options_, t, u);
  const auto [weights, biases] = weights_and_biases();
  std::vector<torch::Tensor> weight_grads, bias_grads;  // parameters() alternate weight, bias
  auto param_grad = [&](size_t i) { return i < param_grads.size() ? param_grads[i] : torch::Tensor(); };
  for (size_t i = 0; i < weights.size(); ++i) {
    weight_grads.push_back(param_grad(2 * i));
    bias_grads.push_back(param_grad(2 * i + 1));
  }
  FieldVJPResult out;
  auto g = core::mlp_vjp(input, weights, biases, options_.activation(), transform, scale * v, weight_grads, bias_grads,
                         with_value ? &out.value : nullptr);
  if (with_value) out.value = scale * out.value;
  if (options_.time_input()) {
    out.t = at::sum_to(g.narrow(-1, options_.dim(), 1), t.sizes());  // t is 0-d or one per row
    g = g.narrow(-1, 0, options_.dim());
    if (options_.cube_input()) g = g * 3 * u.square();
  }
  out.y = g / scale;
  return out;
}

void MLPFieldImpl::standardize(const torch::Tensor& states) {
  TORCH_CHECK(states.dim() == 2 && states.size(1) == options_.dim(), "MLPField::standardize: expected states [n, ",
              options_.dim(), "], got ", states.sizes());
  torch::NoGradGuard no_grad;
  const auto [mean, deviation] = core::standardization(states);
  shift.copy_(mean);
  scale.copy_(deviation);
}

}  // namespace deepdyn::ode
