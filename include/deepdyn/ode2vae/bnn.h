#pragma once
// Bayesian multilayer perceptron with mean-field Gaussian weights: ODE2VAE's differential
// function f_W (Yildiz et al. 2019, section 3.2).
#include <torch/torch.h>

#include <vector>

#include "deepdyn/core/activation.h"

namespace deepdyn::ode2vae {

using core::Activation;

/// Whether the posterior variance s^2 of q(W) = N(m, s^2 I) is one number or one per layer.
enum class WeightVariance { Shared, PerLayer };

struct BayesianMLPOptions {
  BayesianMLPOptions(int64_t in, int64_t out) : in_(in), out_(out) {}
  TORCH_ARG(int64_t, in);
  TORCH_ARG(int64_t, out);
  TORCH_ARG(std::vector<int64_t>, hidden) = std::vector<int64_t>{50, 50};
  TORCH_ARG(Activation, activation) = Activation::Tanh;
  TORCH_ARG(WeightVariance, variance) = WeightVariance::Shared;
  /// Initial posterior variance s^2 (the reference implementation starts at 1e-4).
  TORCH_ARG(double, initial_variance) = 1e-4;

  // (TORCH_ARG leaves the access private.)
 public:
  /// Refuses inconsistent values with a message that names the setting.
  void validate() const;
};

/// One set of weights: a deterministic MLP x -> y (weights [out, in] per layer).
struct SampledMLP {
  std::vector<torch::Tensor> weights, biases;
  Activation activation = Activation::Tanh;

  torch::Tensor operator()(const torch::Tensor& x) const;
};

/// q(W) = prod N(w; m_w, s^2): learned means (Xavier-initialised weights, zero biases) and
/// learned log-variances, one shared or one per layer.
class BayesianMLPImpl : public torch::nn::Module {
 public:
  explicit BayesianMLPImpl(BayesianMLPOptions options);
  /// A reparameterised draw W = m + s eps (differentiable in m and s).
  SampledMLP sample() const;
  /// The posterior mean: what prediction uses.
  SampledMLP mean() const;
  /// KL(q(W) || N(0, I)) in closed form: sum over weights of (s^2 + m^2 - 1 - log s^2) / 2.
  torch::Tensor kl() const;
  /// Number of weights and biases (the |W| of ODE2VAE's beta = q / |W|).
  int64_t num_weights() const;
  const BayesianMLPOptions& options() const { return options_; }

  std::vector<torch::Tensor> weight_means, bias_means;
  /// One entry (Shared) or one per layer (PerLayer).
  std::vector<torch::Tensor> log_variances;

 private:
  const torch::Tensor& log_variance(size_t layer) const;
  BayesianMLPOptions options_;
};
TORCH_MODULE(BayesianMLP);

}  // namespace deepdyn::ode2vae
