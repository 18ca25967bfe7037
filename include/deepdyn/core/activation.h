#pragma once
// Smooth activations shared by the models' fields, with their derivatives (for forward-mode
// Jacobians such as ODE2VAE's trace term).
#include <torch/torch.h>

#include <string>
#include <vector>

namespace deepdyn::core {

/// Elementwise activations. Softplus is LibTorch's (beta 1: x past 20 passes through); Elu has
/// alpha 1.
enum class Activation { Tanh, Softplus, Sigmoid, Elu, Identity };

/// "tanh", "softplus", "sigmoid", "elu", "identity".
const std::vector<std::string>& activation_names();
const std::string& activation_name(Activation activation);
/// Parses one of activation_names(); an unknown name is refused with the valid list.
Activation parse_activation(const std::string& name);

/// tanh(x), differentiable to any order. Float32 tensors on a CPU with AVX2 and FMA take a
/// vectorised kernel (Eigen's rational approximation, as XLA's; within 3 ulp of torch::tanh) about
/// 8x faster than LibTorch's, whose tanh is most of a small MLP field's time; other dtypes and
/// devices use torch::tanh.
torch::Tensor tanh(const torch::Tensor& x);

/// core::tanh as a layer of nn::Sequential, in place of torch::nn::Tanh (no parameters either).
torch::nn::Functional tanh_layer();

/// sigma(x) elementwise.
torch::Tensor activate(Activation activation, const torch::Tensor& x);

/// sigma'(x) elementwise.
torch::Tensor activation_slope(Activation activation, const torch::Tensor& x);

}  // namespace deepdyn::core
