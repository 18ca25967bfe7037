#include "deepdyn/ode/mlp_field.h"

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

torch::Tensor MLPFieldImpl::forward(const torch::Tensor& t, const torch::Tensor& y) {
  auto u = (y - shift) / scale;
  // The cube is the network's own input transform unless t joins the input after it.
  auto input = options_.cube_input() ? core::MLPInput::Cube : core::MLPInput::Identity;
  if (options_.time_input()) {
    if (options_.cube_input()) u = u.pow(3);
    input = core::MLPInput::Identity;
    auto rows = u.sizes().vec();
    rows.back() = 1;
    u = torch::cat({u, t.to(u.dtype()).expand(rows)}, -1);
  }
  std::vector<torch::Tensor> weights, biases;
  for (const auto& layer : *layers) {
    weights.push_back(layer->as<torch::nn::Linear>()->weight);
    biases.push_back(layer->as<torch::nn::Linear>()->bias);
  }
  return scale * core::mlp(u, weights, biases, options_.activation(), input);
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
