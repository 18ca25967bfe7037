#pragma once
// A multilayer perceptron on fused CPU kernels: the building block of the library's fields.
// LibTorch spends most of a small field's time between operations (dispatch, autograd records,
// allocations) and in its tanh; here each layer is one GEMM and one pass that adds the bias and
// applies the activation, and the backward is one pass and two GEMMs per layer.
#include <torch/torch.h>

#include <vector>

#include "deepdyn/core/activation.h"

namespace deepdyn::core {

/// What the first layer sees: x, or x^3 elementwise (torchdiffeq's ode_demo field).
enum class MLPInput { Identity, Cube };

/// y = W_L act(... act(W_1 T(x) + b_1) ...) + b_L over the last dimension of x, with weights
/// [out, in] and biases [out] (nn::Linear's layout) and T the input transform; every layer but the
/// last is followed by the activation.
///
/// On CPU float32/float64 with AVX2 and FMA it runs fused kernels (Eigen): no autograd record per
/// operation, one node for the whole network whose backward is the fused vector-Jacobian product
/// for x, every weight and every bias. A backward that is itself differentiated (create_graph, as
/// the CNF's trace estimators and ODE2VAE need) runs mlp_reference's graph instead, so every
/// derivative of every order is exact. Elsewhere mlp() is mlp_reference().
torch::Tensor mlp(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                  const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input = MLPInput::Identity);

/// The same function with LibTorch operations (the fused kernels' reference and fallback).
torch::Tensor mlp_reference(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                            const std::vector<torch::Tensor>& biases, Activation activation,
                            MLPInput input = MLPInput::Identity);

/// mlp()'s vector-Jacobian product without autograd, for solvers that sweep their own gradients
/// (ode::solve's tapeless Direct gradient and its Adjoint on a field with SolveOptions::vjp):
/// returns g^T dy/dx for the output cotangent g (y's shape) and adds g^T dy/dW_i and g^T dy/db_i
/// into weight_grads[i] and bias_grads[i] (the weights' and biases' shapes; an undefined entry,
/// or an empty vector, is skipped). With `value` not null, it also sets *value = mlp(x). Fused
/// kernels where mlp_is_fused (the hidden layers recomputed, as under RecomputeActivationsGuard),
/// else LibTorch's autograd on mlp_reference. Runs in no-grad mode: its results have no graph.
torch::Tensor mlp_vjp(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                      const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input,
                      const torch::Tensor& g, const std::vector<torch::Tensor>& weight_grads,
                      const std::vector<torch::Tensor>& bias_grads, torch::Tensor* value = nullptr);

/// A network's value with an estimate of its Jacobian J = dy/dx_b per row, x_b the last d of x's
/// features for d outputs: all of x for a square network (the divergence a continuous normalizing
/// flow integrates, RNODE's Jacobian penalty), the velocity v of x = [s, v] for ODE2VAE's
/// acceleration field (d log q / dt = -tr(df/dv)):
///   probe undefined (exact):  divergence = tr J,       frobenius = ||J||_F^2;
///   probe e [..., d]:         divergence = e^T J e,    frobenius = ||J e||^2
/// (Hutchinson's estimators, unbiased for E[e e^T] = I; the probe has the output's shape). value is
/// mlp()'s; divergence and frobenius are x's shape without its last dimension.
struct MLPDivergence {
  torch::Tensor value, divergence, frobenius;
};

/// mlp() with its divergence by forward mode: the Jacobian-vector products J v (v = e, or each
/// unit vector for the exact trace) run through every layer beside the value, in the same GEMM,
/// their activation slopes in the same pass. On the fused path it is one autograd node whose
/// backward is fused too (it needs the activations' second derivatives); a backward that is itself
/// differentiated runs mlp_divergence_reference's graph. The probe is a constant: it gets no
/// gradient.
MLPDivergence mlp_divergence(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                             const std::vector<torch::Tensor>& biases, Activation activation,
                             MLPInput input = MLPInput::Identity, const torch::Tensor& probe = {});

/// The same with LibTorch operations, differentiable to any order (the fused path's fallback).
MLPDivergence mlp_divergence_reference(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                                       const std::vector<torch::Tensor>& biases, Activation activation,
                                       MLPInput input = MLPInput::Identity, const torch::Tensor& probe = {});

/// mlp_divergence's vector-Jacobian product without autograd (mlp_vjp's counterpart): for the
/// cotangents of value, divergence and frobenius in `cotangents` (each may be undefined: zero) it
/// returns x's and adds the weights' and biases' into weight_grads and bias_grads (undefined
/// entries skipped); with `value` not null, *value = mlp_divergence(x, ...). Fused kernels where
/// mlp_divergence runs them, else LibTorch's autograd on mlp_divergence_reference. No graph.
torch::Tensor mlp_divergence_vjp(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                                 const std::vector<torch::Tensor>& biases, Activation activation, MLPInput input,
                                 const torch::Tensor& probe, const MLPDivergence& cotangents,
                                 const std::vector<torch::Tensor>& weight_grads,
                                 const std::vector<torch::Tensor>& bias_grads, MLPDivergence* value = nullptr);

/// While one lives on this thread, the fused mlp() saves only its input, weights and biases for
/// the backward, which recomputes the hidden layers (with the same kernels, so to the same values).
/// For graphs that live long before their backward, as backprop through a whole solve: there the
/// stored activations of hundreds of evaluations fall out of cache, and writing them and reading
/// them back cost more than computing them again (the spiral's direct step took 18% less time;
/// the adjoint, whose graphs are used at once, 24% more). ode::solve's direct gradient sets it.
class RecomputeActivationsGuard {
 public:
  RecomputeActivationsGuard();
  ~RecomputeActivationsGuard();
  RecomputeActivationsGuard(const RecomputeActivationsGuard&) = delete;
  RecomputeActivationsGuard& operator=(const RecomputeActivationsGuard&) = delete;

 private:
  bool previous_;
};

/// Whether mlp() runs its fused kernels for these tensors.
bool mlp_is_fused(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                  const std::vector<torch::Tensor>& biases);

}  // namespace deepdyn::core
