#pragma once
// Smooth activations shared by the models' fields, with their derivatives (for forward-mode
// Jacobians such as ODE2VAE's trace term).
#include <torch/torch.h>

namespace deepdyn::core {

enum class Activation { Tanh, Softplus };

/// sigma(x) elementwise.
torch::Tensor activate(Activation activation, const torch::Tensor& x);

/// sigma'(x) elementwise.
torch::Tensor activation_slope(Activation activation, const torch::Tensor& x);

}  // namespace deepdyn::core
