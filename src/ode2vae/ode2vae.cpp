#include "deepdyn/ode2vae/ode2vae.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "deepdyn/core/activation.h"
#include "deepdyn/core/math.h"
#include "deepdyn/core/mlp.h"
#include "deepdyn/ode/solve.h"

namespace deepdyn::ode2vae {
namespace {

namespace nn = torch::nn;

bool is_image(const std::vector<int64_t>& frame_shape) { return frame_shape.size() == 3; }

// Three 5x5 convolutions (stride 2, 2, 1) with ReLU: [B, C, H, H] -> [B, 4F (H/4)^2].
nn::Sequential convolutional_body(int64_t channels, int64_t filters) {
  auto conv = [](int64_t in, int64_t out, int64_t stride) {
    return nn::Conv2d(nn::Conv2dOptions(in, out, 5).stride(stride).padding(2));
  };
  return nn::Sequential(conv(channels, filters, 2), nn::ReLU(), conv(filters, 2 * filters, 2), nn::ReLU(),
                        conv(2 * filters, 4 * filters, 1), nn::ReLU(), nn::Flatten());
}

// The mirror image: q -> [4F, H/4, H/4] -> two 4x4 transposed convolutions (stride 2) -> a 3x3
// convolution to C channels of logits.
nn::Sequential deconvolutional_decoder(int64_t latent, int64_t channels, int64_t size, int64_t filters) {
  const int64_t base = size / 4;
  auto up = [](int64_t in, int64_t out) {
    return nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1));
  };
  return nn::Sequential(nn::Linear(latent, 4 * filters * base * base), nn::ReLU(),
                        nn::Unflatten(nn::UnflattenOptions(1, {4 * filters, base, base})), up(4 * filters, 2 * filters),
                        nn::ReLU(), up(2 * filters, filters), nn::ReLU(),
                        nn::Conv2d(nn::Conv2dOptions(filters, channels, 3).padding(1)));
}

nn::Sequential mlp(int64_t in, int64_t hidden, int64_t out) {
  return nn::Sequential(nn::Linear(in, hidden), core::tanh_layer(), nn::Linear(hidden, hidden), core::tanh_layer(),
                        nn::Linear(hidden, out));
}

// The latent dynamics on [s, v, log q]: s' = v, v' = f_W(s, v), (log q)' = -tr(df_W/dv) (ODE2VAE
// eq. 9), f_W with the trace of its Jacobian block over v by core::mlp_divergence (forward mode
// on the fused kernels): exact for an undefined noise, else Hutchinson's noise^T (df_W/dv) noise.
ode::TupleField latent_field(SampledMLP f, torch::Tensor noise) {
  return [f = std::move(f), noise = std::move(noise)](const torch::Tensor&, const std::vector<torch::Tensor>& y) {
    auto out = core::mlp_divergence(torch::cat({y[0], y[1]}, 1), f.weights, f.biases, f.activation,
                                    core::MLPInput::Identity, noise);
    return std::vector<torch::Tensor>{y[1], out.value, -out.divergence};
  };
}

// latent_field's vector-Jacobian product without autograd (SolveOptions::vjp), on the flat state
// [s, v, log q] (core::flatten's layout) and cotangent [c_s, c_v, c_l]: by mlp_divergence_vjp
// with the value's cotangent c_v and the trace's -c_l, v's gradient adds c_s (from s' = v), and
// log q's is zero. The weights' gradients go into param_grads: the weights, then the biases.
ode::FieldVJP latent_vjp(SampledMLP f, torch::Tensor noise) {
  return [f = std::move(f), noise = std::move(noise)](const torch::Tensor&, const torch::Tensor& y,
                                                      const torch::Tensor& c,
                                                      const std::vector<torch::Tensor>& param_grads, bool with_value) {
    const int64_t q = f.weights.back().size(0), n = y.numel() / (2 * q + 1);
    auto split = [&](const torch::Tensor& flat) {
      return std::array<torch::Tensor, 3>{flat.narrow(0, 0, n * q).view({n, q}),
                                          flat.narrow(0, n * q, n * q).view({n, q}), flat.narrow(0, 2 * n * q, n)};
    };
    const auto [s, v, log_q] = split(y);
    const auto [c_s, c_v, c_log_q] = split(c);
    const auto layers = static_cast<std::ptrdiff_t>(f.weights.size());
    const std::vector<torch::Tensor> weight_grads(param_grads.begin(), param_grads.begin() + layers),
        bias_grads(param_grads.begin() + layers, param_grads.end());
    core::MLPDivergence value;
    const auto g =
        core::mlp_divergence_vjp(torch::cat({s, v}, 1), f.weights, f.biases, f.activation, core::MLPInput::Identity,
                                 noise, {c_v, -c_log_q, {}}, weight_grads, bias_grads, with_value ? &value : nullptr);
    ode::FieldVJPResult r;
    r.y = torch::cat({g.narrow(1, 0, q).flatten(), (g.narrow(1, q, q) + c_s).flatten(), torch::zeros_like(log_q)});
    if (with_value) r.value = torch::cat({v.flatten(), value.value.flatten(), -value.divergence});
    return r;
  };
}

}  // namespace

int64_t curriculum_length(int64_t frames, int64_t amortization, int64_t epoch) {
  return std::max(std::min(frames, frames / 5 + epoch / 2), amortization + 1);
}

double decayed_learning_rate(double rate, int64_t step) { return rate * std::pow(0.995, double(step / 200)); }

GaussianEncoderImpl::GaussianEncoderImpl(const std::vector<int64_t>& frame_shape, int64_t frames, int64_t latent,
                                         int64_t filters, int64_t hidden)
    : images(is_image(frame_shape)) {
  if (images) {
    const int64_t size = frame_shape[1];
    body = register_module("body", convolutional_body(frames * frame_shape[0], filters));
    head = register_module("head", nn::Linear(4 * filters * (size / 4) * (size / 4), 2 * latent));
  } else {
    body = register_module("body", nn::Sequential(nn::Linear(frames * frame_shape[0], hidden), core::tanh_layer(),
                                                  nn::Linear(hidden, hidden), core::tanh_layer()));
    head = register_module("head", nn::Linear(hidden, 2 * latent));
  }
}

std::pair<torch::Tensor, torch::Tensor> GaussianEncoderImpl::forward(const torch::Tensor& x) {
  // Frames become channels (images) or one long vector (vectors).
  auto input = images ? x.flatten(1, 2) : x.flatten(1);
  auto out = head(body->forward(input)).chunk(2, -1);
  return {out[0], out[1]};
}

void ODE2VAEOptions::validate() const {
  const auto& shape = frame_shape();
  TORCH_CHECK(shape.size() == 1 || shape.size() == 3,
              "ODE2VAE: frame_shape must be {C, H, W} (images) or {D} (vectors), got ", shape.size(), " dimensions");
  for (auto d : shape) TORCH_CHECK(d >= 1, "ODE2VAE: frame_shape entries must be >= 1");
  if (is_image(shape))
    TORCH_CHECK(shape[1] == shape[2] && shape[1] % 4 == 0,
                "ODE2VAE: image frames must be square with a side that is a multiple of 4, got ", shape[1], "x",
                shape[2]);
  TORCH_CHECK(latent() >= 1, "ODE2VAE: latent must be >= 1, got ", latent());
  TORCH_CHECK(amortization() >= 1, "ODE2VAE: amortization (m) must be >= 1, got ", amortization());
  TORCH_CHECK(filters() >= 1 && hidden() >= 1, "ODE2VAE: filters and hidden must be >= 1");
  TORCH_CHECK(gamma() >= 0, "ODE2VAE: gamma must be >= 0, got ", gamma());
  TORCH_CHECK(!beta() || *beta() >= 0, "ODE2VAE: beta must be >= 0, got ", beta().value_or(0));
  TORCH_CHECK(frame_interval() > 0, "ODE2VAE: frame_interval must be > 0, got ", frame_interval());
  TORCH_CHECK(substeps() >= 1, "ODE2VAE: substeps must be >= 1, got ", substeps());
  // The latent state is (s, v, log q); the model names the field's parameters itself.
  ode::SolveOptions(solver()).params({}).validate(3);
}

ODE2VAEImpl::ODE2VAEImpl(ODE2VAEOptions options) : options_(std::move(options)) {
  options_.validate();
  const auto& shape = options_.frame_shape();
  images_ = is_image(shape);
  const int64_t q = options_.latent();
  position_encoder =
      register_module("position_encoder", GaussianEncoder(shape, 1, q, options_.filters(), options_.hidden()));
  velocity_encoder = register_module(
      "velocity_encoder", GaussianEncoder(shape, options_.amortization(), q, options_.filters(), options_.hidden()));
  field = register_module("field", BayesianMLP(BayesianMLPOptions(2 * q, q)
                                                   .hidden(options_.field_hidden())
                                                   .activation(options_.field_activation())
                                                   .variance(options_.field_variance())));
  decoder = register_module("decoder", images_ ? deconvolutional_decoder(q, shape[0], shape[1], options_.filters())
                                               : mlp(q, options_.hidden(), shape[0]));
  if (!images_) observation_log_variance = register_parameter("observation_log_variance", torch::zeros({1}));
}

double ODE2VAEImpl::beta() const {
  return options_.beta().value_or(double(options_.latent()) / double(field->num_weights()));
}

void ODE2VAEImpl::check_sequences(const torch::Tensor& x, int64_t min_frames) const {
  const auto& shape = options_.frame_shape();
  bool ok = x.dim() == int64_t(shape.size()) + 2 && x.size(0) >= 1;
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = x.size(int64_t(i) + 2) == shape[i];
  TORCH_CHECK(ok, "ODE2VAE: expected sequences [N, T, ", c10::IntArrayRef(shape), "], got ", x.sizes());
  TORCH_CHECK(x.size(1) >= min_frames, "ODE2VAE: sequences need at least ", min_frames,
              " frames (the amortization length m), got ", x.size(1));
}

ODE2VAEImpl::Latent ODE2VAEImpl::encode(const torch::Tensor& x, int64_t windows) {
  const int64_t n = x.size(0), m = options_.amortization();
  // Window t holds frames t .. t+m-1: [N, windows, m, *frame].
  auto frames = x.narrow(1, 0, windows + m - 1).unfold(1, m, 1).movedim(-1, 2);
  auto [s_mean, s_log_var] = position_encoder(frames.select(2, 0).flatten(0, 1).unsqueeze(1));
  auto [v_mean, v_log_var] = velocity_encoder(frames.flatten(0, 1));
  return {torch::cat({s_mean, v_mean}, -1).view({n, windows, -1}),
          torch::cat({s_log_var, v_log_var}, -1).view({n, windows, -1})};
}

ode::TupleSolution ODE2VAEImpl::latent_flow(const SampledMLP& f, const torch::Tensor& z0, const torch::Tensor& log_q0,
                                            int64_t frames) {
  TORCH_CHECK(z0.dim() == 2 && z0.size(1) == 2 * options_.latent() && log_q0.sizes() == z0.sizes().slice(0, 1),
              "ODE2VAE::latent_flow: expected z0 [N, ", 2 * options_.latent(), "] and log_q0 [N], got ", z0.sizes(),
              " and ", log_q0.sizes());
  const int64_t q = options_.latent();
  const bool exact = options_.trace() == core::TraceEstimator::Exact;
  auto noise = exact ? torch::Tensor() : core::draw_noise(options_.noise(), z0.narrow(1, 0, q));
  auto ts = torch::arange(frames, z0.options().requires_grad(false)) * options_.frame_interval();
  auto solver = options_.solver();
  if (!ode::is_adaptive(solver.method()) && !solver.step_size() && solver.grid().empty())
    solver.step_size(options_.frame_interval() / double(options_.substeps()));
  std::vector<torch::Tensor> params = f.weights;
  params.insert(params.end(), f.biases.begin(), f.biases.end());
  solver.params(params).vjp(latent_vjp(f, noise));
  return ode::solve(latent_field(f, noise), {z0.narrow(1, 0, q), z0.narrow(1, q, q), log_q0}, ts, solver);
}

torch::Tensor ODE2VAEImpl::decode(const torch::Tensor& s) {
  auto leading = s.sizes().vec();
  leading.pop_back();
  auto out = decoder->forward(s.reshape({-1, options_.latent()}));
  auto shape = leading;
  shape.insert(shape.end(), options_.frame_shape().begin(), options_.frame_shape().end());
  return out.view(shape);
}

torch::Tensor ODE2VAEImpl::decoded_mean(const torch::Tensor& decoded) const {
  return images_ ? torch::sigmoid(decoded) : decoded;
}

torch::Tensor ODE2VAEImpl::frame_log_likelihood(const torch::Tensor& x, const torch::Tensor& decoded) const {
  const int64_t frame_dims = int64_t(options_.frame_shape().size());
  if (images_) {
    // Bernoulli with logits: x log sigmoid(l) + (1 - x) log sigmoid(-l), stably.
    auto bce = torch::binary_cross_entropy_with_logits(decoded, x, {}, {}, at::Reduction::None);
    return -bce.flatten(-frame_dims).sum(-1);
  }
  auto log_var = observation_log_variance;
  auto per_element = -0.5 * ((x - decoded).square() * (-log_var).exp() + log_var + core::kLogTwoPi);
  return per_element.sum(-1);
}

ODE2VAEOutput ODE2VAEImpl::forward(const torch::Tensor& x) {
  const int64_t m = options_.amortization();
  check_sequences(x, m);
  const int64_t frames = x.size(1);
  // The gamma term compares the flow with the encoders at every window t = 0 .. T - m.
  const int64_t windows = options_.gamma() > 0 ? frames - m + 1 : 1;
  auto encoded = encode(x, windows);
  auto mean0 = encoded.mean.select(1, 0), log_var0 = encoded.log_variance.select(1, 0);
  auto z0 = mean0 + (0.5 * log_var0).exp() * torch::randn_like(mean0);
  auto log_q0 = core::diagonal_gaussian_log_density(z0, mean0, log_var0);

  auto solution = latent_flow(field->sample(), z0, log_q0, frames);
  auto s = solution.ys[0].transpose(0, 1), v = solution.ys[1].transpose(0, 1);  // [N, T, q]
  auto log_q = solution.ys[2].transpose(0, 1);                                  // [N, T]
  auto z = torch::cat({s, v}, -1);

  ODE2VAEOutput out;
  auto decoded = decode(s);
  out.frames = decoded_mean(decoded).detach();
  out.log_likelihood = frame_log_likelihood(x, decoded).sum(1).mean();
  out.log_q = log_q.sum(1).mean();
  out.log_p = core::diagonal_gaussian_log_density(z, torch::zeros_like(z), torch::zeros_like(z)).sum(1).mean();
  out.kl_weights = field->kl();
  auto elbo_terms = out.log_likelihood - out.log_q + out.log_p - beta() * out.kl_weights;
  if (options_.gamma() > 0) {
    auto log_q_enc = core::diagonal_gaussian_log_density(z.narrow(1, 0, windows), encoded.mean, encoded.log_variance);
    out.encoder_kl = (log_q.narrow(1, 0, windows) - log_q_enc).sum(1).mean();
  } else {
    out.encoder_kl = torch::zeros({}, x.options());
  }
  out.loss = -elbo_terms + options_.gamma() * out.encoder_kl;
  out.stats = solution.stats;
  return out;
}

torch::Tensor ODE2VAEImpl::predict(const torch::Tensor& x, int64_t frames, Dynamics dynamics) {
  check_sequences(x, options_.amortization());
  TORCH_CHECK(frames >= 1, "ODE2VAE::predict: frames must be >= 1, got ", frames);
  torch::NoGradGuard no_grad;
  auto encoded = encode(x, 1);
  auto z0 = encoded.mean.select(1, 0);
  const int64_t q = options_.latent();
  torch::Tensor s;
  if (dynamics == Dynamics::ZeroVelocity) {
    s = z0.narrow(1, 0, q).unsqueeze(1).expand({-1, frames, -1});
  } else {
    auto solution = latent_flow(field->mean(), z0, torch::zeros({z0.size(0)}, z0.options()), frames);
    s = solution.ys[0].transpose(0, 1);
  }
  return decoded_mean(decode(s));
}

torch::Tensor ODE2VAEImpl::generate(int64_t n, int64_t frames) {
  TORCH_CHECK(n >= 1 && frames >= 1, "ODE2VAE::generate: n and frames must be >= 1, got ", n, " and ", frames);
  torch::NoGradGuard no_grad;
  const auto& reference = field->weight_means[0];
  auto z0 = torch::randn({n, 2 * options_.latent()}, reference.options());
  auto solution = latent_flow(field->sample(), z0, torch::zeros({n}, reference.options()), frames);
  return decoded_mean(decode(solution.ys[0].transpose(0, 1)));
}

torch::Tensor repeat_last_observed(const torch::Tensor& x, int64_t m) {
  TORCH_CHECK(x.dim() >= 2 && m >= 1 && m <= x.size(1), "repeat_last_observed: need x [N, T, ...] with T >= m = ", m,
              ", got ", x.sizes());
  auto last = x.narrow(1, m - 1, 1).expand_as(x.narrow(1, m, x.size(1) - m));
  return torch::cat({x.narrow(1, 0, m), last}, 1);
}

PredictionReport compare_predictions(ODE2VAE& model, const torch::Tensor& sequences) {
  const int64_t m = model->options().amortization(), frames = sequences.size(1);
  auto error = [&](const torch::Tensor& predicted) {
    auto squared = (predicted - sequences).square();
    return PredictionError{squared.mean().item<double>(), squared.narrow(1, m, frames - m).mean().item<double>()};
  };
  PredictionReport report;
  report.predicted = model->predict(sequences, frames);
  report.model = error(report.predicted);
  report.last_frame = error(repeat_last_observed(sequences, m));
  report.zero_velocity = error(model->predict(sequences, frames, Dynamics::ZeroVelocity));
  return report;
}

}  // namespace deepdyn::ode2vae
