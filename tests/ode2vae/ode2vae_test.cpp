// ODE2VAE: the weight KL against Monte Carlo, the latent log-density (the field's trace by
// core::mlp_divergence) against finite differences (Liouville's formula), ELBO gradients (the
// latent flow's by the tapeless sweep on the field's own VJP) against central differences in
// float64, and a few training iterations on bouncing balls.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <cmath>

#include "support/error_message.h"
#include "support/finite_differences.h"

namespace dd = deepdyn;
using dd::ode2vae::BayesianMLP;
using dd::ode2vae::BayesianMLPOptions;
using dd::ode2vae::ODE2VAE;
using dd::ode2vae::ODE2VAEOptions;
using dd::testing::error_message;

namespace {

// A tiny model on vector frames, in float64.
ODE2VAE tiny_vector_model(double gamma = 1.0, dd::core::TraceEstimator trace = dd::core::TraceEstimator::Exact) {
  torch::manual_seed(3);
  ODE2VAE model(ODE2VAEOptions({3}, 2).amortization(2).hidden(6).field_hidden({5}).gamma(gamma).trace(trace));
  model->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  model->field->log_variances[0].fill_(std::log(0.05));  // weight noise large enough to matter
  return model;
}

void add_to_parameters(torch::nn::Module& module, const torch::Tensor& delta) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (auto& p : module.parameters()) {
    p.add_(delta.narrow(0, offset, p.numel()).view_as(p));
    offset += p.numel();
  }
}

}  // namespace

TEST(BayesianMLP, WeightKLMatchesMonteCarlo) {
  for (auto variance : {dd::ode2vae::WeightVariance::Shared, dd::ode2vae::WeightVariance::PerLayer}) {
    torch::manual_seed(0);
    BayesianMLP bnn(BayesianMLPOptions(3, 2).hidden({4}).variance(variance).initial_variance(0.3));
    bnn->to(torch::kFloat64);
    {
      torch::NoGradGuard no_grad;
      for (auto& m : bnn->bias_means) m.normal_(0, 0.5);
      for (size_t i = 0; i < bnn->log_variances.size(); ++i) bnn->log_variances[i].fill_(std::log(0.3 + 0.5 * i));
    }
    // log q(W) - log p(W) per draw; its mean is the KL.
    const int draws = 4000;
    std::vector<double> values;
    for (int d = 0; d < draws; ++d) {
      auto sample = bnn->sample();
      double log_ratio = 0;
      for (size_t i = 0; i < sample.weights.size(); ++i) {
        const double log_s2 =
            bnn->log_variances[variance == dd::ode2vae::WeightVariance::Shared ? 0 : i].item<double>();
        for (auto [w, m] :
             {std::pair{sample.weights[i], bnn->weight_means[i]}, std::pair{sample.biases[i], bnn->bias_means[i]}}) {
          auto log_q = -0.5 * ((w - m).square() / std::exp(log_s2) + log_s2);
          auto log_p = -0.5 * w.square();
          log_ratio += (log_q - log_p).sum().item<double>();
        }
      }
      values.push_back(log_ratio);
    }
    auto t = torch::tensor(values, torch::kFloat64);
    const double mean = t.mean().item<double>(), standard_error = t.std().item<double>() / std::sqrt(double(draws));
    const double kl = bnn->kl().item<double>();
    EXPECT_NEAR(mean, kl, 3 * standard_error) << "closed form " << kl << ", Monte Carlo " << mean;
    EXPECT_GT(kl, 10 * standard_error);  // the check is not vacuous
    EXPECT_EQ(bnn->num_weights(), 3 * 4 + 4 + 4 * 2 + 2);
  }
}

// d log q / dt = -tr(df/dv) integrates to log q(z_T) - log q(z_0) = -log |det dz_T/dz_0|
// (Liouville): the flow's log-density against the Jacobian of the flow map by finite differences.
TEST(ODE2VAE, LatentLogDensityFollowsLiouville) {
  for (auto trace : {dd::core::TraceEstimator::Exact, dd::core::TraceEstimator::Hutchinson}) {
    torch::manual_seed(2);
    // Hutchinson needs many solves: RK4 with 20 steps keeps them cheap, its error (< 1e-6) far
    // below the standard error of the mean.
    const bool exact = trace == dd::core::TraceEstimator::Exact;
    auto solver = exact ? dd::ode::SolveOptions().method(dd::ode::Method::Dopri5).rtol(1e-11).atol(1e-11)
                        : dd::ode::SolveOptions().method(dd::ode::Method::RK4);
    ODE2VAE model(
        ODE2VAEOptions({3}, 3).field_hidden({8}).trace(trace).frame_interval(0.5).solver(solver).substeps(20));
    model->to(torch::kFloat64);
    auto f = model->field->mean();
    for (auto& w : f.weights) w = w.detach() * 2.5;  // a field that changes volume noticeably
    auto z0 = torch::randn({1, 6}, torch::kFloat64);
    auto end_state = [&](const torch::Tensor& z) {
      auto ys = model->latent_flow(f, z, torch::zeros({1}, torch::kFloat64), 2).ys;
      return std::pair{torch::cat({ys[0][1], ys[1][1]}, 1), ys[2][1].item<double>()};
    };
    const auto jacobian =
        dd::testing::numeric_jacobian([&](const torch::Tensor& z) { return end_state(z).first; }, z0, 1e-5)
            .view({6, 6});
    const double expected = -std::log(std::abs(torch::det(jacobian).item<double>()));
    if (exact) {
      EXPECT_NEAR(end_state(z0).second, expected, 1e-7);
      EXPECT_GT(std::abs(expected), 0.05);
    } else {
      // Hutchinson: unbiased over noise draws (one per sample of the batch, drawn once per solve).
      const int64_t draws = 2000;
      auto log_q = model->latent_flow(f, z0.expand({draws, 6}), torch::zeros({draws}, torch::kFloat64), 2).ys[2][1];
      EXPECT_NEAR(log_q.mean().item<double>(), expected, 3 * log_q.std().item<double>() / std::sqrt(double(draws)));
      EXPECT_GT(log_q.std().item<double>(), 1e-3);  // the draws do differ
    }
  }
}

TEST(ODE2VAE, LossGradientsMatchFiniteDifferences) {
  for (auto trace : {dd::core::TraceEstimator::Exact, dd::core::TraceEstimator::Hutchinson})
    for (double gamma : {0.0, 1.0}) {
      auto model = tiny_vector_model(gamma, trace);
      auto x = torch::randn({4, 5, 3}, torch::kFloat64);
      // One fixed draw of z0's and W's noise, so that the loss is a smooth function of the parameters.
      auto forward = [&] {
        torch::manual_seed(11);
        return model->forward(x);
      };
      model->zero_grad();
      const auto out = forward();
      out.loss.backward();
      // The tapeless sweep: one field VJP per stage of every RK4 step, no graph per evaluation.
      EXPECT_EQ(out.stats->nfe_backward, out.stats->nfe);
      std::vector<torch::Tensor> grads;
      for (auto& p : model->parameters()) grads.push_back(p.grad().reshape(-1));
      auto gradient = torch::cat(grads);
      torch::manual_seed(5);
      for (int k = 0; k < 4; ++k) {
        auto direction = torch::randn_like(gradient);
        direction /= direction.norm();
        const double numeric = dd::testing::central_difference(
            [&](double offset) {
              add_to_parameters(*model, offset * direction);
              const double value = forward().loss.item<double>();
              add_to_parameters(*model, -offset * direction);
              return value;
            },
            1e-5);
        const double analytic = (gradient * direction).sum().item<double>();
        EXPECT_NEAR(analytic, numeric, 1e-6 * std::max(1.0, std::abs(numeric)))
            << "gamma " << gamma << " direction " << k
            << (trace == dd::core::TraceEstimator::Exact ? " exact" : " hutchinson");
      }
    }
}

TEST(ODE2VAE, LossTermsAreConsistent) {
  auto model = tiny_vector_model(0.5);
  auto x = torch::randn({4, 5, 3}, torch::kFloat64);
  auto out = model->forward(x);
  const double expected =
      -(out.log_likelihood - out.log_q + out.log_p - model->beta() * out.kl_weights).item<double>() +
      0.5 * out.encoder_kl.item<double>();
  EXPECT_NEAR(out.loss.item<double>(), expected, 1e-10);
  EXPECT_DOUBLE_EQ(model->beta(), 2.0 / double(model->field->num_weights()));
  EXPECT_EQ(out.frames.sizes(), x.sizes());
  EXPECT_EQ(out.stats->nfe, 4 * 5 * 4);  // RK4, 4 intervals of 5 steps
  for (auto& t : {out.log_likelihood, out.log_q, out.log_p, out.kl_weights, out.encoder_kl})
    EXPECT_TRUE(std::isfinite(t.item<double>()));
}

TEST(ODE2VAE, ZeroVelocityPredictionIsStatic) {
  auto model = tiny_vector_model();
  auto x = torch::randn({2, 4, 3}, torch::kFloat64);
  auto frozen = model->predict(x, 6, dd::ode2vae::Dynamics::ZeroVelocity);
  auto moving = model->predict(x, 6);
  ASSERT_EQ(frozen.sizes(), (std::vector<int64_t>{2, 6, 3}));
  EXPECT_TRUE(torch::allclose(frozen.select(1, 5), frozen.select(1, 0)));
  EXPECT_TRUE(torch::allclose(moving.select(1, 0), frozen.select(1, 0)));
  EXPECT_FALSE(torch::allclose(moving.select(1, 5), frozen.select(1, 5)));
}

TEST(ODE2VAE, BaselinesAndGeneratedSequences) {
  auto x = torch::randn({2, 6, 3}, torch::kFloat64);
  auto naive = dd::ode2vae::repeat_last_observed(x, 3);
  EXPECT_TRUE(torch::equal(naive.narrow(1, 0, 3), x.narrow(1, 0, 3)));
  for (int64_t t = 3; t < 6; ++t) EXPECT_TRUE(torch::equal(naive.select(1, t), x.select(1, 2)));
  auto model = tiny_vector_model();  // m = 2
  const auto report = dd::ode2vae::compare_predictions(model, x);
  auto naive_two = dd::ode2vae::repeat_last_observed(x, 2);
  EXPECT_NEAR(report.last_frame.whole, (naive_two - x).square().mean().item<double>(), 1e-12);
  EXPECT_NEAR(report.last_frame.future, (naive_two - x).narrow(1, 2, 4).square().mean().item<double>(), 1e-12);
  EXPECT_NEAR(report.model.whole, (model->predict(x, 6) - x).square().mean().item<double>(), 1e-12);
  EXPECT_EQ(model->generate(4, 7).sizes(), (std::vector<int64_t>{4, 7, 3}));
}

TEST(ODE2VAE, RefusesBadConfigurationsAndData) {
  EXPECT_NE(error_message([] { ODE2VAE(ODE2VAEOptions({1, 30, 30}, 4)); }).find("multiple of 4"), std::string::npos);
  EXPECT_NE(error_message([] { ODE2VAE(ODE2VAEOptions({2, 3}, 4)); }).find("frame_shape"), std::string::npos);
  EXPECT_NE(error_message([] { ODE2VAE(ODE2VAEOptions({3}, 2).gamma(-1)); }).find("gamma"), std::string::npos);
  EXPECT_NE(error_message([] { ODE2VAE(ODE2VAEOptions({3}, 0)); }).find("latent"), std::string::npos);
  auto model = tiny_vector_model();
  EXPECT_NE(error_message([&] {
              model->forward(torch::randn({2, 1, 3}, torch::kFloat64));
            }).find("at least 2 frames"),
            std::string::npos);
  EXPECT_NE(error_message([&] {
              model->forward(torch::randn({2, 5, 4}, torch::kFloat64));
            }).find("expected sequences"),
            std::string::npos);
}

TEST(ODE2VAE, SchedulesFollowTheReference) {
  EXPECT_EQ(dd::ode2vae::curriculum_length(20, 3, 0), 4);
  EXPECT_EQ(dd::ode2vae::curriculum_length(20, 3, 9), 8);
  EXPECT_EQ(dd::ode2vae::curriculum_length(20, 3, 100), 20);
  EXPECT_EQ(dd::ode2vae::curriculum_length(10, 3, 0), 4);
  EXPECT_DOUBLE_EQ(dd::ode2vae::decayed_learning_rate(1e-3, 199), 1e-3);
  EXPECT_DOUBLE_EQ(dd::ode2vae::decayed_learning_rate(1e-3, 400), 1e-3 * 0.995 * 0.995);
}

// A few iterations on tiny bouncing balls keep the image pipeline (convolutions, Bernoulli
// likelihood, curriculum) from breaking: the loss falls and predictions are valid frames.
TEST(ODE2VAE, TrainsOnTinyBouncingBalls) {
  auto data = dd::data::bouncing_balls(8, 4, dd::data::BouncingBallsOptions().balls(2).frames(6).size(16));
  torch::manual_seed(0);
  ODE2VAE model(ODE2VAEOptions({1, 16, 16}, 4).filters(4).field_hidden({16}));
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(3e-3));
  double first = 0, last = 0;
  for (int it = 0; it < 15; ++it) {
    auto out = model->forward(data.narrow(1, 0, dd::ode2vae::curriculum_length(6, 3, it)));
    optimizer.zero_grad();
    out.loss.backward();
    optimizer.step();
    ASSERT_TRUE(std::isfinite(out.loss.item<double>())) << "iteration " << it;
    (it == 0 ? first : last) = out.log_likelihood.item<double>() / double(out.frames.size(1));
  }
  EXPECT_GT(last, first);  // per-frame log-likelihood improves
  auto predicted = model->predict(data, 6);
  ASSERT_EQ(predicted.sizes(), data.sizes());
  EXPECT_GE(predicted.min().item<double>(), 0);
  EXPECT_LE(predicted.max().item<double>(), 1);
}
