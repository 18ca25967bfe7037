#include "deepdyn/core/activation.h"

namespace deepdyn::core {

torch::Tensor activate(Activation activation, const torch::Tensor& x) {
  return activation == Activation::Tanh ? torch::tanh(x) : torch::softplus(x);
}

torch::Tensor activation_slope(Activation activation, const torch::Tensor& x) {
  if (activation == Activation::Tanh) return 1 - torch::tanh(x).square();
  return torch::sigmoid(x);  // d/dx log(1 + e^x)
}

}  // namespace deepdyn::core
