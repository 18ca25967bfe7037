#pragma once
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <vector>

#include "deepdyn/cnf/flow.h"
#include "deepdyn/core/activation.h"
#include "deepdyn/core/mlp.h"
#include "deepdyn/reg/rnode.h"

namespace deepdyn::cnf {

using core::Activation;

/// FFJORD's time-conditioned layer: Linear(x) * sigmoid(W_g t + b_g) + W_b t (Grathwohl et al. 2019).
struct ConcatSquashLinearImpl : torch::nn::Module {
  ConcatSquashLinearImpl(int64_t in, int64_t out);
  torch::Tensor forward(const torch::Tensor& t, const torch::Tensor& x);
  torch::nn::Linear layer{nullptr}, hyper_gate{nullptr}, hyper_bias{nullptr};
};
TORCH_MODULE(ConcatSquashLinear);

/// The velocity field f(t, z): concat-squash layers dim -> hidden... -> dim with the activation
/// between them; the last layer starts at zero, so an untrained flow is the identity. At one time
/// the layers are affine maps, so the net is a core::mlp there, on its fused kernels.
struct ODENetImpl : torch::nn::Module {
  ODENetImpl(int64_t dim, const std::vector<int64_t>& hidden, Activation activation);
  /// t is one time (the whole batch's).
  torch::Tensor forward(const torch::Tensor& t, const torch::Tensor& z);
  /// f(t, z) with its divergence and Frobenius estimate (core::mlp_divergence: forward mode; exact
  /// when probe is undefined, Hutchinson's with it): what integrate_flow needs, without autograd.
  core::MLPDivergence divergence(const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& probe);
  /// The vector-Jacobian product of (f, divergence) at (t, z) (DivergenceField::vjp), without
  /// autograd; param_grads follow parameters().
  DivergenceVJP divergence_vjp(const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& probe,
                               const torch::Tensor& v, const torch::Tensor& w,
                               const std::vector<torch::Tensor>& param_grads, bool with_value);
  std::vector<ConcatSquashLinear> layers;
  Activation activation;
};
TORCH_MODULE(ODENet);

/// The net as integrate_flow's DivergenceField: its forward-mode ODENetImpl::divergence, and its
/// divergence_vjp for gradients without a graph per evaluation.
DivergenceField divergence_field(ODENet net);

struct CNFOptions {
  /* implicit */ CNFOptions(int64_t dim) : dim_(dim) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{64, 64, 64};
  TORCH_ARG(Activation, activation) = Activation::Tanh;
  /// Stacked flows, each with its own field and end time.
  TORCH_ARG(int64_t, blocks) = 1;
  /// Integration time T of each block (FFJORD's toy default 0.5).
  TORCH_ARG(double, end_time) = 0.5;
  /// Learn T (kept positive as T = s^2 with s trained).
  TORCH_ARG(bool, learn_end_time) = false;
  /// Trace estimator and noise of training (forward()); log_prob() chooses its own.
  TORCH_ARG(TraceEstimator, trace) = TraceEstimator::Hutchinson;
  TORCH_ARG(Noise, noise) = Noise::Gaussian;
  /// RNODE regularization (off when unset).
  TORCH_ARG(std::optional<reg::RNODE>, regularize) = std::nullopt;
  /// Solver settings (dopri5, rtol = atol = 1e-5, adjoint gradients by default).
  TORCH_ARG(ode::SolveOptions, solver) = ode::SolveOptions().rtol(1e-5).atol(1e-5).gradient(ode::Adjoint{});

  // (TORCH_ARG leaves the access private.)
 public:
  /// Refuses inconsistent values with a message that names the setting.
  void validate() const;
};

/// What one training pass returns.
struct CNFOutput {
  torch::Tensor log_prob;  ///< [batch] log p(x) under the training trace estimator
  torch::Tensor kinetic;   ///< [batch] E_K summed over blocks (when regularized)
  torch::Tensor jacobian;  ///< [batch] E_J summed over blocks (when regularized)
  torch::Tensor penalty;   ///< scalar lambda_K mean(E_K) + lambda_J mean(E_J), zero when not regularized
  /// One per block; nfe_backward is filled in when the loss is differentiated.
  std::vector<std::shared_ptr<core::Stats>> block_stats;
  /// All blocks together: their counts summed, the first failure.
  core::Stats stats() const { return core::total(block_stats); }
};

/// A continuous normalizing flow (FFJORD): data x at t = 0 is carried to a standard normal z at
/// t = T by dz/dt = f(t, z); log p(x) = log N(z(T)) - delta_logp(T).
class CNFImpl : public torch::nn::Module {
 public:
  explicit CNFImpl(CNFOptions options);
  /// Training pass: log-likelihood with the configured estimator, plus RNODE integrals.
  CNFOutput forward(const torch::Tensor& x);
  /// log p(x) [batch]; the exact trace by default (the right choice in low dimension).
  torch::Tensor log_prob(const torch::Tensor& x, TraceEstimator trace = TraceEstimator::Exact);
  /// n samples: base draws integrated from T back to 0 through the blocks in reverse.
  torch::Tensor sample(int64_t n);
  /// Pushes given base points z through the inverse flow (what sample() does to its draws).
  torch::Tensor generate(const torch::Tensor& z);
  /// The current end time of block k.
  torch::Tensor end_time(size_t block) const;
  const CNFOptions& options() const { return options_; }
  std::vector<ODENet> blocks;

 private:
  void check_data(const torch::Tensor& x) const;
  /// x through every block from 0 to T: z, log p(x) and (when flow.regularize) the RNODE integrals.
  CNFOutput push_forward(const torch::Tensor& x, const FlowOptions& flow);
  torch::Tensor times(size_t block, bool reverse) const;
  ode::SolveOptions block_solver(size_t block) const;
  CNFOptions options_;
  std::vector<torch::Tensor> sqrt_end_times_;
};
TORCH_MODULE(CNF);

}  // namespace deepdyn::cnf
