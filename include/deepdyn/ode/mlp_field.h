#pragma once
// A multilayer perceptron as a vector field, dy/dt = f(t, y): the field a Neural ODE fitted to
// measured trajectories starts from. Its state may be standardised by the data's statistics, it
// may see the time, and it may take y^3 (torchdiffeq's ode_demo field) instead of y.
#include <torch/torch.h>

#include <vector>

#include "deepdyn/core/activation.h"
#include "deepdyn/ode/options.h"

namespace deepdyn::ode {

struct MLPFieldOptions {
  explicit MLPFieldOptions(int64_t dim) : dim_(dim) {}
  /// The state's size d (y is [..., d]).
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{50};
  TORCH_ARG(core::Activation, activation) = core::Activation::Tanh;
  /// t as one more input of the first layer (a non-autonomous field).
  TORCH_ARG(bool, time_input) = false;
  /// The network sees u^3 instead of u, as torchdiffeq's ode_demo field does.
  TORCH_ARG(bool, cube_input) = false;

  // (TORCH_ARG leaves the access private.)
 public:
  /// Refuses inconsistent values with a message that names the setting.
  void validate() const;
};

/// f(t, y) = s * net(u [, t]) with u = (y - m) / s (cubed with cube_input), net a core::mlp (fused
/// kernels on CPU float32/float64): m and s standardise
/// the state (buffers, 0 and 1 until standardize() is called), so the network works on numbers of
/// order one whatever the data's units. Weights start N(0, 0.1^2) and biases 0 (torchdiffeq's
/// ode_demo), so the initial field is nearly zero.
class MLPFieldImpl : public torch::nn::Module {
 public:
  explicit MLPFieldImpl(MLPFieldOptions options);
  /// t is a 0-d time or one time per batch row (broadcastable to y's shape without its last size).
  torch::Tensor forward(const torch::Tensor& t, const torch::Tensor& y);
  /// The field's vector-Jacobian product by core::mlp_vjp (SolveOptions::vjp, which ode::solve
  /// sets from it); param_grads follow parameters(): each layer's weight, then its bias.
  FieldVJPResult vjp(const torch::Tensor& t, const torch::Tensor& y, const torch::Tensor& v,
                     const std::vector<torch::Tensor>& param_grads, bool with_value);
  /// Sets m and s to the mean and standard deviation of `states` [n, dim] (s = 1 where a
  /// component does not vary).
  void standardize(const torch::Tensor& states);
  const MLPFieldOptions& options() const { return options_; }

  torch::nn::ModuleList layers;  ///< Linear layers, the activation between them
  torch::Tensor shift, scale;    ///< m and s, buffers [dim]

 private:
  /// The Linear layers' weights and biases, in order.
  std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> weights_and_biases() const;

  MLPFieldOptions options_;
};
TORCH_MODULE(MLPField);

}  // namespace deepdyn::ode
