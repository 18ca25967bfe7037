// Continuous normalizing flows: the change of variables against closed forms (linear fields),
// samples against log_prob (histogram), Hutchinson against the exact trace, gradients against
// central finite differences, and the RNODE integrals.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <cmath>

#include "support/finite_differences.h"

namespace dd = deepdyn;
using dd::cnf::CNF;
using dd::cnf::CNFOptions;
using dd::cnf::FlowOptions;
using dd::cnf::TraceEstimator;

namespace {

dd::ode::SolveOptions tight() { return dd::ode::SolveOptions().rtol(1e-10).atol(1e-10); }

struct Linear {
  torch::Tensor a = torch::tensor({{-0.4, 1.1, 0.2}, {-0.9, 0.3, 0.0}, {0.5, 0.1, -0.2}}, torch::kFloat64);
  torch::Tensor operator()(const torch::Tensor&, const torch::Tensor& z) const { return torch::matmul(z, a.t()); }
};

// A small flow whose last layer is not zero (an untrained CNF is the identity by construction).
CNF random_flow(int64_t dim, std::vector<int64_t> hidden, uint64_t seed, bool learn_end_time = false,
                dd::ode::SolveOptions solver = tight()) {
  torch::manual_seed(seed);
  CNF flow(CNFOptions(dim).hidden(hidden).end_time(0.8).learn_end_time(learn_end_time).solver(solver));
  torch::NoGradGuard no_grad;
  for (auto& p : flow->blocks[0]->layers.back()->parameters()) p.copy_(0.8 * torch::randn_like(p));
  flow->to(torch::kFloat64);
  return flow;
}

}  // namespace

TEST(Flow, LinearFieldMatchesTheClosedForm) {
  Linear f;
  const double t = 0.7;
  auto x = torch::randn({5, 3}, torch::kFloat64);
  auto ts = torch::tensor({0.0, t}, torch::kFloat64);
  auto r =
      dd::cnf::integrate_flow(f, x, ts, FlowOptions().trace(TraceEstimator::Exact).regularize(true).solver(tight()));
  // z(t) = exp(A t) x, delta log p = -tr(A) t, E_J = ||A||_F^2 t.
  auto z_exact = torch::matmul(x, at::linalg_matrix_exp(f.a * t).t());
  EXPECT_TRUE(torch::allclose(r.z, z_exact, 0, 1e-8));
  const double trace = f.a.trace().item<double>();
  EXPECT_TRUE(torch::allclose(r.delta_logp, torch::full({5}, -trace * t, torch::kFloat64), 0, 1e-6));
  auto log_prob = dd::cnf::standard_normal_log_density(r.z) - r.delta_logp;
  auto closed_form = dd::cnf::standard_normal_log_density(z_exact) + trace * t;
  EXPECT_TRUE(torch::allclose(log_prob, closed_form, 0, 1e-6));
  const double frobenius = f.a.pow(2).sum().item<double>();
  EXPECT_TRUE(torch::allclose(r.jacobian, torch::full({5}, frobenius * t, torch::kFloat64), 0, 1e-6));
  // E_K = int_0^t ||A z(s)||^2 ds by Simpson's rule on the exact trajectory.
  const int n = 2000;
  auto kinetic = torch::zeros({5}, torch::kFloat64);
  for (int i = 0; i <= n; ++i) {
    const double s = t * i / n, w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
    auto z = torch::matmul(x, at::linalg_matrix_exp(f.a * s).t());
    kinetic += w * torch::matmul(z, f.a.t()).pow(2).sum(1);
  }
  kinetic *= t / n / 3;
  EXPECT_TRUE(torch::allclose(r.kinetic, kinetic, 1e-8, 1e-10));
}

TEST(Flow, RegularizersStayOutOfErrorControl) {
  auto flow = random_flow(2, {8, 8}, 5);
  auto x = torch::randn({64, 2}, torch::kFloat64);
  auto ts = torch::tensor({0.0, 0.8}, torch::kFloat64);
  auto options = FlowOptions().trace(TraceEstimator::Exact).solver(dd::ode::SolveOptions().rtol(1e-5).atol(1e-5));
  torch::NoGradGuard no_grad;
  auto plain = dd::cnf::integrate_flow(flow->blocks[0], x, ts, options);
  auto regularized = dd::cnf::integrate_flow(flow->blocks[0], x, ts, FlowOptions(options).regularize(true));
  EXPECT_EQ(plain.stats->nfe, regularized.stats->nfe) << "carrying E_K and E_J must not cost steps";
  EXPECT_TRUE(torch::allclose(plain.delta_logp, regularized.delta_logp, 0, 1e-12));
}

TEST(Flow, HutchinsonAgreesWithTheExactTraceInExpectation) {
  auto flow = random_flow(2, {8, 8}, 6);
  auto x = torch::tensor({{0.3, -0.5}}, torch::kFloat64);
  auto ts = torch::tensor({0.0, 0.8}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto exact =
      dd::cnf::integrate_flow(flow->blocks[0], x, ts, FlowOptions().trace(TraceEstimator::Exact).solver(tight()));
  // One noise vector per sample and solve: 4000 copies of x are 4000 independent draws.
  auto copies = x.expand({4000, 2}).contiguous();
  for (auto noise : {dd::cnf::Noise::Gaussian, dd::cnf::Noise::Rademacher}) {
    auto estimate = dd::cnf::integrate_flow(
        flow->blocks[0], copies, ts, FlowOptions().noise(noise).solver(dd::ode::SolveOptions().rtol(1e-8).atol(1e-8)));
    const double mean = estimate.delta_logp.mean().item<double>();
    const double standard_error = estimate.delta_logp.std().item<double>() / std::sqrt(4000.0);
    EXPECT_GT(standard_error, 0) << "the estimate must actually be random";
    EXPECT_LT(std::abs(mean - exact.delta_logp.item<double>()), 3 * standard_error)
        << "mean " << mean << " exact " << exact.delta_logp.item<double>() << " se " << standard_error;
  }
}

TEST(Flow, ConcatSquashNetAtOneTimeIsTheLayersComposed) {
  // ODENet runs its layers as core::mlp's affine maps at time t (one node builds them, by loops
  // over the parameters); the layers' own forward composed by autograd is the reference, for the
  // value and for the gradients to every parameter and to t, first and second order.
  auto flow = random_flow(3, {6, 5}, 8);
  auto& net = flow->blocks[0];
  const auto t = torch::tensor(0.37, torch::kFloat64).requires_grad_();
  const auto z = torch::randn({9, 3}, torch::kFloat64);
  auto composed = [&](const torch::Tensor& time) {
    auto h = z;
    for (size_t i = 0; i < net->layers.size(); ++i) {
      h = net->layers[i](time, h);
      if (i + 1 < net->layers.size()) h = dd::core::activate(net->activation, h);
    }
    return h;
  };
  const auto ours = net(t, z), theirs = composed(t);
  EXPECT_TRUE(torch::allclose(ours, theirs, 1e-13, 1e-14));
  auto inputs = net->parameters();
  inputs.push_back(t);
  const auto weights = torch::randn_like(ours);
  const auto g_ours = torch::autograd::grad({ours}, inputs, {weights}, true, true);
  const auto g_theirs = torch::autograd::grad({theirs}, inputs, {weights}, true, true);
  // Without create_graph the node's backward runs its loops, with it LibTorch's operations.
  const auto g_by_loops = torch::autograd::grad({ours}, inputs, {weights}, true, false);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_TRUE(torch::allclose(g_ours[i], g_theirs[i], 1e-12, 1e-13)) << "gradient " << i;
    EXPECT_TRUE(torch::allclose(g_by_loops[i], g_theirs[i], 1e-12, 1e-13)) << "gradient by the loops " << i;
  }
  // d/dt of the gradient's norm: through the node's backward, differentiated again.
  auto squared = [](const torch::autograd::variable_list& g) {
    auto total = torch::zeros({}, torch::kFloat64);
    for (size_t i = 0; i + 1 < g.size(); ++i) total = total + g[i].square().sum();
    return total;
  };
  const auto dt_ours = torch::autograd::grad({squared(g_ours)}, {t})[0];
  const auto dt_theirs = torch::autograd::grad({squared(g_theirs)}, {t})[0];
  EXPECT_TRUE(torch::allclose(dt_ours, dt_theirs, 1e-10, 1e-12)) << dt_ours << " vs " << dt_theirs;
}

// CNF blocks give their divergence by forward mode (ODENet::divergence); a plain field gets it by
// autograd. On the same net, both ways give the same flow and the same gradients, direct and adjoint.
TEST(Flow, ForwardModeDivergenceMatchesAutogradOnTheSameNet) {
  auto flow = random_flow(2, {8, 8}, 9);
  auto net = flow->blocks[0];
  const auto by_forward_mode = dd::cnf::divergence_field(net);
  const auto x = torch::randn({7, 2}, torch::kFloat64);
  const auto ts = torch::tensor({0.0, 0.8}, torch::kFloat64);
  const auto params = net->parameters();
  for (const auto trace : {TraceEstimator::Exact, TraceEstimator::Hutchinson})
    for (const dd::ode::Gradient gradient :
         {dd::ode::Gradient(dd::ode::Direct{}), dd::ode::Gradient(dd::ode::Adjoint{})}) {
      const bool exact = trace == TraceEstimator::Exact;  // (Hutchinson's E_J differs: ||J e|| vs ||e^T J||)
      const auto options =
          FlowOptions().trace(trace).regularize(exact).solver(tight().gradient(gradient).params(params));
      auto run = [&](auto&& field) {
        torch::manual_seed(21);  // the same probe for both
        auto r = dd::cnf::integrate_flow(field, x, ts, options);
        auto loss = r.z.square().sum() + r.delta_logp.sum() + (exact ? r.jacobian.sum() : torch::zeros({}));
        auto grads = torch::autograd::grad({loss}, params);
        grads.insert(grads.begin(), r.delta_logp.detach());
        grads.insert(grads.begin(), r.z.detach());
        if (exact) grads.push_back(r.jacobian.detach());
        return grads;
      };
      const auto ours = run(by_forward_mode);
      const auto theirs = run(dd::ode::Field(net));
      for (size_t i = 0; i < ours.size(); ++i)
        EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-6, 1e-9))
            << (exact ? "exact " : "hutchinson ") << dd::ode::gradient_name(gradient) << " result " << i
            << ": largest difference " << (ours[i] - theirs[i]).abs().max().item<double>();
    }
}

// The net's own vector-Jacobian product (DivergenceField::vjp: the tapeless Direct sweep, the
// Adjoint's backward field without a graph) against the same flow through autograd (the field
// without its vjp): z, delta log p and the gradients of the parameters and of the end time.
TEST(Flow, TheNetsVJPGivesAutogradsGradients) {
  auto flow = random_flow(2, {8, 8}, 10);
  auto net = flow->blocks[0];
  auto with_vjp = dd::cnf::divergence_field(net);
  int64_t vjp_calls = 0;
  with_vjp.vjp = [&vjp_calls, vjp = with_vjp.vjp](auto&&... args) {
    ++vjp_calls;
    return vjp(args...);
  };
  auto without_vjp = with_vjp;
  without_vjp.vjp = nullptr;
  const auto x = torch::randn({7, 2}, torch::kFloat64);
  const auto params = net->parameters();
  for (const auto trace : {TraceEstimator::Exact, TraceEstimator::Hutchinson})
    for (const dd::ode::Gradient gradient :
         {dd::ode::Gradient(dd::ode::Direct{}), dd::ode::Gradient(dd::ode::Adjoint{})}) {
      const auto what =
          std::string(trace == TraceEstimator::Exact ? "exact " : "hutchinson ") + dd::ode::gradient_name(gradient);
      const auto options = FlowOptions().trace(trace).solver(tight().gradient(gradient).params(params));
      auto run = [&](const dd::cnf::DivergenceField& field) {
        torch::manual_seed(22);  // the same probe for both
        const auto ts = torch::tensor({0.0, 0.8}, torch::kFloat64).requires_grad_();
        auto r = dd::cnf::integrate_flow(field, x, ts, options);
        std::vector<torch::Tensor> inputs = {ts};
        inputs.insert(inputs.end(), params.begin(), params.end());
        auto grads = torch::autograd::grad({r.z.square().sum() + r.delta_logp.sum()}, inputs);
        grads.insert(grads.begin(), r.delta_logp.detach());
        grads.insert(grads.begin(), r.z.detach());
        return grads;
      };
      vjp_calls = 0;
      const auto ours = run(with_vjp);
      EXPECT_GT(vjp_calls, 0) << what << ": the vjp was not used";
      const auto theirs = run(without_vjp);
      for (size_t i = 0; i < ours.size(); ++i)
        EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-9, 1e-12))
            << what << " result " << i << ": largest difference " << (ours[i] - theirs[i]).abs().max().item<double>();
    }
}

TEST(CNF, SamplesFollowLogProb) {
  auto flow = random_flow(2, {16, 16}, 7, false, dd::ode::SolveOptions().rtol(1e-6).atol(1e-6));
  torch::NoGradGuard no_grad;
  torch::manual_seed(8);
  const int64_t n = 100000;
  auto samples = flow->sample(n);
  ASSERT_EQ(samples.sizes(), (std::vector<int64_t>{n, 2}));
  // Histogram on [-3, 3]^2 with 0.5-wide bins against the density integrated over each bin by
  // 2x2-point Gauss-Legendre (error O(h^4), far below the counting noise).
  const double lo = -3, h = 0.5;
  const int64_t bins = 12;
  auto index = ((samples - lo) / h).floor().to(torch::kInt64);
  auto inside = (index >= 0).all(1).logical_and((index < bins).all(1));
  auto flat = (index.select(1, 0) * bins + index.select(1, 1)).masked_select(inside);
  auto counts = torch::bincount(flat, {}, bins * bins).to(torch::kFloat64);
  auto centers = lo + h * (torch::arange(bins, torch::kFloat64) + 0.5);
  auto grid = torch::stack(torch::meshgrid({centers, centers}, "ij"), -1).reshape({-1, 2});
  auto expected = torch::zeros({bins * bins}, torch::kFloat64);
  const double offset = h / (2 * std::sqrt(3.0));
  for (double dx : {-offset, offset})
    for (double dy : {-offset, offset})
      expected += flow->log_prob(grid + torch::tensor({dx, dy}, torch::kFloat64)).exp() * (h * h / 4);
  expected *= n;
  auto big = expected > 100;
  ASSERT_GT(big.sum().item<int64_t>(), 30);
  auto z_scores = ((counts - expected) / expected.sqrt()).masked_select(big);
  EXPECT_LT(z_scores.abs().max().item<double>(), 5.0);
  EXPECT_LT(z_scores.pow(2).mean().item<double>(), 2.0) << "chi^2 per bin should be about 1";
}

TEST(CNF, UntrainedFlowIsTheIdentity) {
  CNF flow(CNFOptions(3).hidden({8}));
  auto x = torch::randn({6, 3});
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(flow->log_prob(x), dd::cnf::standard_normal_log_density(x), 0, 1e-5));
  auto z = torch::randn({4, 3});
  EXPECT_TRUE(torch::allclose(flow->generate(z), z));
}

TEST(CNF, LogProbGradientsMatchFiniteDifferences) {
  for (const dd::ode::Gradient& gradient :
       {dd::ode::Gradient(dd::ode::Direct{}), dd::ode::Gradient(dd::ode::Adjoint().rtol(1e-10).atol(1e-10))}) {
    SCOPED_TRACE(dd::ode::gradient_name(gradient));
    auto flow = random_flow(2, {4}, 9, /*learn_end_time=*/true, tight().gradient(gradient));
    auto x = torch::randn({3, 2}, torch::kFloat64).requires_grad_(true);
    auto leaves = flow->parameters();
    leaves.push_back(x);
    auto grads = torch::autograd::grad({flow->log_prob(x).sum()}, leaves);
    const double h = 1e-5;
    for (size_t i = 0; i < leaves.size(); ++i) {
      auto v = torch::randn_like(leaves[i]);
      v /= v.norm();
      auto loss_at = [&](double s) {
        torch::NoGradGuard no_grad;
        leaves[i].add_(v, s);
        double value = flow->log_prob(x.detach()).sum().item<double>();
        leaves[i].sub_(v, s);
        return value;
      };
      const double fd = dd::testing::central_difference(loss_at, h);
      const double analytic = (grads[i] * v).sum().item<double>();
      EXPECT_NEAR(analytic, fd, 1e-6 + 1e-5 * std::abs(fd)) << "leaf " << i;
    }
  }
}

TEST(CNF, TrainingPassCarriesThePenaltyAndCounts) {
  torch::manual_seed(10);
  CNF flow(CNFOptions(2).hidden({16}).blocks(2).regularize(dd::reg::RNODE(0.01, 0.01)));
  auto x = torch::randn({32, 2});
  auto out = flow->forward(x);
  ASSERT_TRUE(out.kinetic.defined());
  EXPECT_EQ(out.block_stats.size(), 2u);
  EXPECT_GT(out.stats().nfe, 0);
  (-out.log_prob.mean() + out.penalty).backward();
  EXPECT_GT(out.stats().nfe_backward, 0);
  for (const auto& p : flow->parameters()) EXPECT_TRUE(p.grad().defined());
}

TEST(CNF, RefusesBadOptions) {
  EXPECT_THROW(CNF(CNFOptions(0)), c10::Error);
  EXPECT_THROW(CNF(CNFOptions(2).blocks(0)), c10::Error);
  EXPECT_THROW(CNF(CNFOptions(2).end_time(-1)), c10::Error);
  EXPECT_THROW(CNF(CNFOptions(2).hidden({8, 0})), c10::Error);
  EXPECT_THROW(CNF(CNFOptions(2).regularize(dd::reg::RNODE(-0.1, 0.01))), c10::Error);
  EXPECT_THROW(CNF(CNFOptions(2).learn_end_time(true).regularize(dd::reg::RNODE(0.01, 0.01))), c10::Error);
  EXPECT_NO_THROW(CNF(CNFOptions(2).learn_end_time(true).regularize(dd::reg::RNODE(0, 0.01))));
  CNF flow(CNFOptions(2));
  EXPECT_THROW(flow->log_prob(torch::randn({4, 3})), c10::Error);
}
