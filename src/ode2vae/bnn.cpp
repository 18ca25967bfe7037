#include "deepdyn/ode2vae/bnn.h"

#include <cmath>

#include "deepdyn/core/mlp.h"

namespace deepdyn::ode2vae {

torch::Tensor SampledMLP::operator()(const torch::Tensor& x) const { return core::mlp(x, weights, biases, activation); }

void BayesianMLPOptions::validate() const {
  TORCH_CHECK(in() >= 1 && out() >= 1, "BayesianMLP: in and out must be >= 1, got ", in(), " and ", out());
  TORCH_CHECK(initial_variance() > 0, "BayesianMLP: initial_variance must be > 0, got ", initial_variance());
  for (auto h : hidden()) TORCH_CHECK(h >= 1, "BayesianMLP: hidden widths must be >= 1, got ", h);
}

BayesianMLPImpl::BayesianMLPImpl(BayesianMLPOptions options) : options_(std::move(options)) {
  options_.validate();
  std::vector<int64_t> widths = {options_.in()};
  widths.insert(widths.end(), options_.hidden().begin(), options_.hidden().end());
  widths.push_back(options_.out());
  const size_t layers = widths.size() - 1;
  const size_t variances = options_.variance() == WeightVariance::Shared ? 1 : layers;
  for (size_t i = 0; i < layers; ++i) {
    const double bound = std::sqrt(6.0 / double(widths[i] + widths[i + 1]));  // Glorot & Bengio 2010
    weight_means.push_back(register_parameter("weight" + std::to_string(i),
                                              torch::empty({widths[i + 1], widths[i]}).uniform_(-bound, bound)));
    bias_means.push_back(register_parameter("bias" + std::to_string(i), torch::zeros({widths[i + 1]})));
  }
  for (size_t i = 0; i < variances; ++i) {
    log_variances.push_back(register_parameter("log_variance" + std::to_string(i),
                                               torch::full({1}, std::log(options_.initial_variance()))));
  }
}

const torch::Tensor& BayesianMLPImpl::log_variance(size_t layer) const {
  return log_variances[log_variances.size() == 1 ? 0 : layer];
}

SampledMLP BayesianMLPImpl::sample() const {
  SampledMLP mlp{{}, {}, options_.activation()};
  for (size_t i = 0; i < weight_means.size(); ++i) {
    auto scale = (0.5 * log_variance(i)).exp();
    mlp.weights.push_back(weight_means[i] + scale * torch::randn_like(weight_means[i]));
    mlp.biases.push_back(bias_means[i] + scale * torch::randn_like(bias_means[i]));
  }
  return mlp;
}

SampledMLP BayesianMLPImpl::mean() const { return {weight_means, bias_means, options_.activation()}; }

torch::Tensor BayesianMLPImpl::kl() const {
  auto total = torch::zeros({}, weight_means[0].options());
  for (size_t i = 0; i < weight_means.size(); ++i) {
    const auto& log_s2 = log_variance(i);
    const double count = double(weight_means[i].numel() + bias_means[i].numel());
    auto squared_means = weight_means[i].square().sum() + bias_means[i].square().sum();
    total = total + 0.5 * (count * (log_s2.exp() - 1 - log_s2).squeeze() + squared_means);
  }
  return total;
}

int64_t BayesianMLPImpl::num_weights() const {
  int64_t count = 0;
  for (size_t i = 0; i < weight_means.size(); ++i) count += weight_means[i].numel() + bias_means[i].numel();
  return count;
}

}  // namespace deepdyn::ode2vae
