#include "deepdyn/deq/classifier.h"

#include "deepdyn/core/activation.h"

namespace deepdyn::deq {

TanhNormCellImpl::TanhNormCellImpl(int64_t width) {
  w = register_module("w", torch::nn::Linear(torch::nn::LinearOptions(width, width).bias(false)));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
}

torch::Tensor TanhNormCellImpl::forward(const torch::Tensor& z, const torch::Tensor& injection) {
  return core::tanh(norm(w(z) + injection));
}

DEQClassifierImpl::DEQClassifierImpl(int64_t inputs, int64_t width, int64_t classes, DEQOptions options)
    : width_(width) {
  TORCH_CHECK(inputs >= 1 && width >= 1 && classes >= 1, "DEQClassifier: inputs, width and classes must be >= 1");
  inject = register_module("inject", torch::nn::Linear(inputs, width));
  deq = register_module("deq", DEQ(TanhNormCell(width), std::move(options)));
  head = register_module("head", torch::nn::Linear(width, classes));
}

std::pair<torch::Tensor, DEQOutput> DEQClassifierImpl::forward(const torch::Tensor& x) {
  auto out = deq(inject(x.flatten(1)), torch::zeros({x.size(0), width_}, x.options()));
  return {head(out.z), out};
}

}  // namespace deepdyn::deq
