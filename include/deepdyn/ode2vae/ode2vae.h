#pragma once
// ODE2VAE (Yildiz, Heinonen & Lahdesmaki 2019): a VAE whose latent trajectories follow the
// second-order ODE s' = v, v' = f_W(s, v) with a Bayesian neural network f_W.
#include <torch/torch.h>

#include <optional>
#include <utility>
#include <vector>

#include "deepdyn/core/trace.h"
#include "deepdyn/ode/options.h"
#include "deepdyn/ode/solution.h"
#include "deepdyn/ode2vae/bnn.h"

namespace deepdyn::ode2vae {

struct ODE2VAEOptions {
  /// Shape of one frame: {C, H, W} images (convolutional encoders and decoder, Bernoulli
  /// likelihood; H = W, a multiple of 4) or {D} vectors (MLPs, Gaussian likelihood).
  ODE2VAEOptions(std::vector<int64_t> frame_shape, int64_t latent)
      : frame_shape_(std::move(frame_shape)), latent_(latent) {}
  TORCH_ARG(std::vector<int64_t>, frame_shape);
  /// q: the size of the position s and of the velocity v.
  TORCH_ARG(int64_t, latent);
  /// m: v0 is encoded from the first m frames (s0 from the first one).
  TORCH_ARG(int64_t, amortization) = 3;
  /// Channels of the first convolution (images): F, 2F, 4F through the encoder.
  TORCH_ARG(int64_t, filters) = 16;
  /// Width of the encoder and decoder MLPs (vectors).
  TORCH_ARG(int64_t, hidden) = 64;
  /// Hidden widths, activation and variance of the Bayesian field f_W: [s, v] -> acceleration.
  TORCH_ARG(std::vector<int64_t>, field_hidden) = std::vector<int64_t>{50, 50};
  TORCH_ARG(Activation, field_activation) = Activation::Tanh;
  TORCH_ARG(WeightVariance, field_variance) = WeightVariance::Shared;
  /// Weight of KL(q(W) || p(W)); unset: q / |W| (the paper's choice).
  TORCH_ARG(std::optional<double>, beta) = std::nullopt;
  /// Weight of KL(q_ode(z_t) || q_enc(z_t | x_t..t+m-1)) summed over time.
  TORCH_ARG(double, gamma) = 1.0;
  /// tr(df_W/dv) of d log q / dt: exact (q derivatives) or Hutchinson (one noise vector per solve).
  TORCH_ARG(core::TraceEstimator, trace) = core::TraceEstimator::Exact;
  TORCH_ARG(core::Noise, noise) = core::Noise::Gaussian;
  /// Time between frames.
  TORCH_ARG(double, frame_interval) = 0.1;
  /// The latent solve: RK4 by default; a fixed-step method without step_size or grid steps
  /// frame_interval / substeps (the paper's dt / 5).
  TORCH_ARG(ode::SolveOptions, solver) = ode::SolveOptions().method(ode::Method::RK4);
  TORCH_ARG(int64_t, substeps) = 5;

  // (TORCH_ARG leaves the access private.)
 public:
  /// Refuses inconsistent values with a message that names the setting.
  void validate() const;
};

/// A diagonal Gaussian over R^q computed from frames: returns (mean, log variance).
struct GaussianEncoderImpl : torch::nn::Module {
  GaussianEncoderImpl(const std::vector<int64_t>& frame_shape, int64_t frames, int64_t latent, int64_t filters,
                      int64_t hidden);
  /// x: [batch, frames, *frame_shape].
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);
  torch::nn::Sequential body{nullptr};
  torch::nn::Linear head{nullptr};
  bool images;
};
TORCH_MODULE(GaussianEncoder);

/// Everything one training pass computes; every term is a mean over sequences.
struct ODE2VAEOutput {
  torch::Tensor loss;            ///< -(log_likelihood - log_q + log_p - beta kl_weights) + gamma encoder_kl
  torch::Tensor log_likelihood;  ///< sum_t log p(x_t | s_t)
  torch::Tensor log_q;           ///< sum_t log q_ode(z_t), z_t = (s_t, v_t) on the sampled flow
  torch::Tensor log_p;           ///< sum_t log N(z_t; 0, I)
  torch::Tensor kl_weights;      ///< KL(q(W) || N(0, I))
  torch::Tensor encoder_kl;      ///< sum_t [log q_ode(z_t) - log q_enc(z_t)], t = 0 .. T - m
  torch::Tensor frames;          ///< decoded means of the sampled trajectory [N, T, *frame_shape]
  /// The latent solve's counts; its backward adds nfe_backward: the field's vector-Jacobian
  /// products (the direct gradient of an explicit method is the tapeless sweep on the field's own
  /// VJP), and the Adjoint's or Checkpointed's evaluations.
  std::shared_ptr<core::Stats> stats;
};

/// What drives the latent position in predict().
enum class Dynamics {
  Learned,       ///< the ODE with the posterior-mean field
  ZeroVelocity,  ///< v held at 0: s_t = s_0 (the ablation that shows what the dynamics add)
};

class ODE2VAEImpl : public torch::nn::Module {
 public:
  explicit ODE2VAEImpl(ODE2VAEOptions options);
  /// One stochastic pass on sequences x [N, T, *frame_shape] (T >= m): z0 from the encoders,
  /// one draw of W, the latent flow with its log-density, the decoder and the loss terms.
  ODE2VAEOutput forward(const torch::Tensor& x);
  /// Frames [N, frames, *frame_shape] predicted from the first m frames of x: encoder means,
  /// posterior-mean weights, decoded means.
  torch::Tensor predict(const torch::Tensor& x, int64_t frames, Dynamics dynamics = Dynamics::Learned);
  /// n sequences from the model itself: z0 ~ N(0, I), one draw of W, decoded means [n, frames, *frame_shape].
  torch::Tensor generate(int64_t n, int64_t frames);
  /// The latent flow under weights f from z0 = (s0, v0) [N, 2q] with log q(z0) [N]: ys = {s, v, log q},
  /// each [frames, N, ...] at t = 0, dt, ..., (frames - 1) dt.
  ode::TupleSolution latent_flow(const SampledMLP& f, const torch::Tensor& z0, const torch::Tensor& log_q0,
                                 int64_t frames);
  /// The beta in use.
  double beta() const;
  const ODE2VAEOptions& options() const { return options_; }

  GaussianEncoder position_encoder{nullptr}, velocity_encoder{nullptr};
  BayesianMLP field{nullptr};
  torch::nn::Sequential decoder{nullptr};
  /// log sigma^2 of the Gaussian likelihood (vectors only).
  torch::Tensor observation_log_variance;

 private:
  struct Latent {
    torch::Tensor mean, log_variance;  ///< [N, windows, 2q]: (s, v) of the encoders for each window
  };
  void check_sequences(const torch::Tensor& x, int64_t min_frames) const;
  /// The encoders on the first `windows` windows x_t (position), x_t..t+m-1 (velocity).
  Latent encode(const torch::Tensor& x, int64_t windows);
  /// Decoder output for positions [..., q]: logits (images) or means (vectors), [..., *frame_shape].
  torch::Tensor decode(const torch::Tensor& s);
  torch::Tensor decoded_mean(const torch::Tensor& decoded) const;
  /// log p(x | decoded) summed over each frame: [...].
  torch::Tensor frame_log_likelihood(const torch::Tensor& x, const torch::Tensor& decoded) const;
  ODE2VAEOptions options_;
  bool images_;
};
TORCH_MODULE(ODE2VAE);

/// The naive forecast: the m observed frames of x [N, T, ...], then the last of them repeated.
torch::Tensor repeat_last_observed(const torch::Tensor& x, int64_t m);

/// Per-pixel mean squared error over the whole sequence and over the predicted frames t >= m.
struct PredictionError {
  double whole = 0, future = 0;
};

/// Predictions from the first m frames of held-out sequences against the truth: the model, the
/// last observed frame repeated, and the same model with the velocity held at zero.
struct PredictionReport {
  PredictionError model, last_frame, zero_velocity;
  torch::Tensor predicted;  ///< the model's frames [N, T, ...]
};
PredictionReport compare_predictions(ODE2VAE& model, const torch::Tensor& sequences);

/// The reference implementation's curriculum on sequence length: train on the first
/// max(min(T, T / 5 + epoch / 2), m + 1) frames in epoch `epoch` (0-based).
int64_t curriculum_length(int64_t frames, int64_t amortization, int64_t epoch);

/// The reference implementation's learning-rate decay: rate * 0.995^floor(step / 200).
double decayed_learning_rate(double rate, int64_t step);

}  // namespace deepdyn::ode2vae
