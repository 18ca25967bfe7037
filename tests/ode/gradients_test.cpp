// Gradients through solve(): Direct, Adjoint and Checkpointed against central
// finite differences, against each other, and against closed forms.
#include <deepdyn/deepdyn.h>
#include <deepdyn/ode/mlp_field.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>

#include "support/finite_differences.h"

namespace dd = deepdyn;
using dd::ode::Adjoint;
using dd::ode::Checkpointed;
using dd::ode::Direct;
using dd::ode::Gradient;
using dd::ode::Method;
using dd::ode::SolveOptions;

namespace {

const std::vector<Gradient> kAllGradients = {Direct{}, Adjoint{}, Checkpointed{}};

// A small non-autonomous field with parameters: f(t, y) = tanh(y W^T + b) * (1 + 0.3 sin t).
struct SmallField : torch::nn::Module {
  torch::Tensor w, b;
  SmallField() {
    torch::manual_seed(1);
    w = register_parameter("w", torch::randn({2, 2}, torch::kFloat64) * 0.8);
    b = register_parameter("b", torch::randn({2}, torch::kFloat64) * 0.3);
  }
  torch::Tensor forward(const torch::Tensor& t, const torch::Tensor& y) {
    return torch::tanh(torch::matmul(y, w.t()) + b) * (1 + 0.3 * torch::sin(t));
  }
};

struct Setting {
  SolveOptions options;
  double tolerance;       // relative agreement with finite differences for y0 and parameters
  double time_tolerance;  // the same for ts
};

// Tolerances tight enough that the solve's own error does not hide a wrong gradient.
Setting setting_for(Method method, Gradient gradient) {
  auto o = SolveOptions().method(method).gradient(gradient);
  // Implicit stages solved to round-off: finite differences see where Newton stops as noise
  // (kappa 1e-3 already leaves kvaerno5's gradients 7e-6 off).
  o.newton().kappa(1e-8);
  const int order = dd::ode::tableau(method).order;
  if (!dd::ode::is_adaptive(method)) {
    // Fixed grids: Direct and Checkpointed differentiate the discrete solve exactly; the adjoint
    // is O(h^order) away from it, and the ts gradients (which follow the field, not the
    // interpolant between grid points) O(h^order + h^3) with cubic Hermite outputs.
    const double h = order == 1 ? 1e-3 : 1e-2;
    o.step_size(h).interpolation(dd::ode::Interpolation::CubicHermite);
    const double discretisation = 20 * std::pow(h, order);
    return {o, std::holds_alternative<Adjoint>(gradient) ? discretisation + 1e-6 : 1e-6,
            discretisation + 20 * h * h * h + 1e-6};
  }
  if (order <= 2) return {o.rtol(1e-7).atol(1e-9), 3e-3, 3e-3};
  if (order == 3) return {o.rtol(1e-9).atol(1e-11), 1e-4, 1e-4};
  // dopri8's large steps leave up to rtol in each: finite differences (eps 1e-6) see that as noise.
  if (order >= 8) return {o.rtol(1e-13).atol(1e-15), 1e-6, 1e-6};
  return {o.rtol(1e-11).atol(1e-13), 1e-6, 1e-6};
}

struct Case {
  Method method;
  Gradient gradient;
};

class FiniteDifferences : public ::testing::TestWithParam<Case> {};

TEST_P(FiniteDifferences, GradientsOfY0ParametersAndTimes) {
  const auto [method, gradient] = GetParam();
  const auto s = setting_for(method, gradient);
  auto field = std::make_shared<SmallField>();
  auto y0 = torch::tensor({{0.5, -0.3}, {0.1, 0.8}}, torch::kFloat64).requires_grad_();
  auto ts = torch::tensor({0.0, 0.4, 1.0}, torch::kFloat64).requires_grad_();
  torch::manual_seed(2);
  const auto weights = torch::randn({3, 2, 2}, torch::kFloat64);
  auto loss = [&] { return (dd::ode::solve(field, y0, ts, s.options).ys * weights).sum(); };

  auto sol = dd::ode::solve(field, y0, ts, s.options);
  (sol.ys * weights).sum().backward();
  if (!std::holds_alternative<Direct>(gradient)) {
    EXPECT_GT(sol.stats->nfe_backward, 0);
  }

  auto check = [&](torch::Tensor& x, double tolerance, const std::string& name) {
    const auto analytic = x.grad().clone();
    const auto numeric = dd::testing::numeric_gradient(x, 1e-6, [&] { return loss().item<double>(); });
    const double scale = std::max(1.0, numeric.abs().max().item<double>());
    EXPECT_LT((analytic - numeric).abs().max().item<double>() / scale, tolerance)
        << name << "\nanalytic " << analytic << "\nnumeric " << numeric;
  };
  check(y0, s.tolerance, "y0");
  check(field->w, s.tolerance, "w");
  check(field->b, s.tolerance, "b");
  check(ts, s.time_tolerance, "ts");
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto m : dd::ode::all_methods())
    for (const auto& g : kAllGradients) cases.push_back({m, g});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllMethods, FiniteDifferences, ::testing::ValuesIn(all_cases()), [](const auto& info) {
  return dd::ode::method_name(info.param.method) + "_" + dd::ode::gradient_name(info.param.gradient);
});

// torchdiffeq's gradient test problem: the spiral f(t, y) = y^3 A.
struct Spiral : torch::nn::Module {
  torch::Tensor a = register_parameter("a", torch::tensor({{-0.1, 2.0}, {-2.0, -0.1}}, torch::kFloat64));
  torch::Tensor forward(const torch::Tensor&, const torch::Tensor& y) { return y.pow(3).mm(a); }
};

struct Gradients {
  torch::Tensor y0, ts, a;
  int64_t nfe_backward;
};

Gradients spiral_gradients(Gradient gradient) {
  auto field = std::make_shared<Spiral>();
  auto y0 = torch::tensor({{2.0, 0.0}}, torch::kFloat64).requires_grad_();
  auto ts = torch::linspace(0, 25, 10, torch::kFloat64).requires_grad_();
  auto opts = SolveOptions().rtol(1e-9).atol(1e-12).gradient(gradient);
  auto sol = dd::ode::solve(field, y0, ts, opts);
  torch::manual_seed(3);
  sol.ys.backward(torch::rand_like(sol.ys) * 0.1);
  return {y0.grad(), ts.grad(), field->a.grad(), sol.stats->nfe_backward};
}

double max_abs(const torch::Tensor& x) { return x.abs().max().item<double>(); }

void expect_close(const Gradients& a, const Gradients& b, double y0_tol, double ts_tol, double a_tol) {
  EXPECT_LT(max_abs(a.y0 - b.y0), y0_tol);
  EXPECT_LT(max_abs(a.ts - b.ts), ts_tol);
  EXPECT_LT(max_abs(a.a - b.a), a_tol);
}

TEST(AdjointAgainstDirect, SpiralOfTorchdiffeq) {
  const auto adjoint = spiral_gradients(Adjoint{});
  expect_close(spiral_gradients(Direct{}), adjoint, 3e-4, 1e-4, 2e-3);
  EXPECT_GT(adjoint.nfe_backward, 0);
}

TEST(CheckpointedAgainstDirect, SpiralOfTorchdiffeqToRoundOff) {
  expect_close(spiral_gradients(Direct{}), spiral_gradients(Checkpointed{}), 1e-10, 1e-10, 1e-10);
}

class TimeEnds : public ::testing::TestWithParam<Gradient> {};

TEST_P(TimeEnds, GradientOfStartAndEndTimesIsAnalytic) {
  // y' = k y: y(t1) = y0 exp(k (t1 - t0)), so dy/dt1 = k y(t1) and dy/dt0 = -k y(t1).
  const double k = -0.7, y0_value = 1.3, t0 = 0.2, t1 = 1.7;
  auto rate = torch::tensor(k, torch::kFloat64).requires_grad_();
  auto field = [rate](const torch::Tensor&, const torch::Tensor& y) { return rate * y; };
  for (bool reversed : {false, true}) {
    auto ts = (reversed ? torch::tensor({t1, t0}, torch::kFloat64) : torch::tensor({t0, t1}, torch::kFloat64))
                  .requires_grad_();
    auto sol = dd::ode::solve(field, torch::tensor({y0_value}, torch::kFloat64), ts,
                              SolveOptions().rtol(1e-11).atol(1e-13).gradient(GetParam()).params({{rate}}));
    sol.ys[1].sum().backward();
    const double end = y0_value * std::exp(k * (reversed ? t0 - t1 : t1 - t0));
    EXPECT_NEAR(ts.grad()[1].item<double>(), k * end, 1e-8) << "reversed " << reversed;
    EXPECT_NEAR(ts.grad()[0].item<double>(), -k * end, 1e-8) << "reversed " << reversed;
    EXPECT_NEAR(rate.grad().item<double>(), (reversed ? t0 - t1 : t1 - t0) * end, 1e-8);
    rate.mutable_grad() = torch::Tensor();
  }
}

INSTANTIATE_TEST_SUITE_P(AllGradients, TimeEnds, ::testing::ValuesIn(kAllGradients),
                         [](const auto& info) { return dd::ode::gradient_name(info.param); });

struct Mlp : torch::nn::Module {
  torch::nn::Linear l1{nullptr}, l2{nullptr};
  Mlp() {
    torch::manual_seed(4);
    l1 = register_module("l1", torch::nn::Linear(3, 32));
    l2 = register_module("l2", torch::nn::Linear(32, 2));
    to(torch::kFloat64);
  }
  torch::Tensor forward(const torch::Tensor& t, const torch::Tensor& y) {
    return l2(torch::tanh(l1(torch::cat({y, t.expand({y.size(0), 1})}, 1))));
  }
};

TEST(Seminorm, NeverCostsMoreAndKeepsTheGradient) {
  auto field = std::make_shared<Mlp>();
  auto y0 = torch::randn({16, 2}, torch::kFloat64);
  auto ts = torch::tensor({0.0, 2.0}, torch::kFloat64);
  auto run = [&](dd::ode::AdjointNorm norm) {
    field->zero_grad();
    auto opts = SolveOptions().rtol(1e-6).atol(1e-8).gradient(Adjoint().norm(norm));
    auto sol = dd::ode::solve(field, y0, ts, opts);
    sol.ys[1].pow(2).sum().backward();
    return std::make_pair(sol.stats->nfe_backward, field->l1->weight.grad().clone());
  };
  const auto [full_nfe, full_grad] = run(dd::ode::AdjointNorm::Full);
  const auto [semi_nfe, semi_grad] = run(dd::ode::AdjointNorm::Seminorm);
  field->zero_grad();
  dd::ode::solve(field, y0, ts, SolveOptions().rtol(1e-10).atol(1e-12)).ys[1].pow(2).sum().backward();
  const auto exact = field->l1->weight.grad();
  EXPECT_LE(semi_nfe, full_nfe);
  const double scale = max_abs(exact);
  EXPECT_LT(max_abs(semi_grad - exact) / scale, 1e-4);
  EXPECT_LT(max_abs(full_grad - exact) / scale, 1e-4);
  std::printf("adjoint backward NFE: full norm %lld, seminorm %lld\n", static_cast<long long>(full_nfe),
              static_cast<long long>(semi_nfe));
}

TEST(GradientStrategies, TupleStatesReversedTimeAndFloat32) {
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    for (bool reversed : {false, true}) {
      auto w = torch::tensor({{0.0, 1.0}, {-1.0, -0.1}}, dtype).requires_grad_();
      dd::ode::TupleField field = [w](const torch::Tensor&, const std::vector<torch::Tensor>& s) {
        auto joined = torch::stack({s[0], s[1]});
        auto d = w.mm(joined.view({2, 1})).view({2});
        return std::vector<torch::Tensor>{d[0], d[1]};
      };
      auto x0 = torch::tensor(1.0, dtype).requires_grad_();
      auto v0 = torch::tensor(0.5, dtype).requires_grad_();
      auto ts = reversed ? torch::tensor({2.0, 1.0, 0.0}, torch::kFloat64) : torch::linspace(0, 2, 3, torch::kFloat64);
      std::map<std::string, std::vector<torch::Tensor>> grads;
      for (const auto& gradient : kAllGradients) {
        auto sol = dd::ode::solve(
            field, {x0, v0}, ts, SolveOptions().rtol({1e-7, 1e-7}).atol({1e-9, 1e-9}).gradient(gradient).params({{w}}));
        (sol.ys[0].sum() + 2 * sol.ys[1].sum()).backward();
        grads[dd::ode::gradient_name(gradient)] = {x0.grad().clone(), v0.grad().clone(), w.grad().clone()};
        x0.mutable_grad() = v0.mutable_grad() = w.mutable_grad() = torch::Tensor();
      }
      const bool f64 = dtype == torch::kFloat64;
      for (size_t i = 0; i < 3; ++i) {
        const auto& direct = grads["direct"][i];
        EXPECT_LT(max_abs(direct - grads["adjoint"][i]), f64 ? 1e-5 : 2e-3) << dtype << " reversed " << reversed;
        EXPECT_LT(max_abs(direct - grads["checkpointed"][i]), f64 ? 1e-12 : 1e-5) << dtype << " reversed " << reversed;
      }
    }
  }
}

TEST(AdjointState, PlainCallableWithoutParamsIsRefused) {
  auto field = [](const torch::Tensor&, const torch::Tensor& y) { return -y; };
  try {
    dd::ode::solve(field, torch::ones({2}, torch::kFloat64), torch::tensor({0.0, 1.0}, torch::kFloat64),
                   SolveOptions().gradient(Adjoint{}));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("SolveOptions::params"), std::string::npos) << msg;
    EXPECT_NE(msg.find("plain callable"), std::string::npos) << msg;
  }
}

TEST(CheckpointedState, FewerStoredStatesThanSteps) {
  // With requested checkpoints the gradient is unchanged: every choice is exact.
  auto field = std::make_shared<Spiral>();
  auto y0 = torch::tensor({{2.0, 0.0}}, torch::kFloat64).requires_grad_();
  auto ts = torch::linspace(0, 10, 4, torch::kFloat64);
  std::vector<torch::Tensor> grads;
  for (int64_t k : {0, 1, 3, 50}) {
    field->zero_grad();
    y0.mutable_grad() = torch::Tensor();
    auto sol = dd::ode::solve(
        field, y0, ts, SolveOptions().method(Method::RK4).step_size(0.01).gradient(Checkpointed().checkpoints(k)));
    sol.ys.sum().backward();
    EXPECT_EQ(sol.stats->steps_backward, sol.stats->steps) << "checkpoints " << k;
    grads.push_back(torch::cat({y0.grad().view(-1), field->a.grad().view(-1)}));
  }
  for (size_t i = 1; i < grads.size(); ++i) EXPECT_LT(max_abs(grads[i] - grads[0]), 1e-12);
}

}  // namespace

// A solve that records a graph combines its stages with LibTorch's operations; one that does not,
// with the solver's own kernel on raw memory. Both round alike, so they take the same steps to
// the same values in either dtype: switching a gradient on never moves the solution.
TEST(Gradients, SolvesWithAndWithoutAGraphTakeTheSameStepsToTheSameBits) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    torch::manual_seed(4);
    auto w = (torch::randn({8, 8}, dtype) * 0.7).requires_grad_();
    const dd::ode::Field f = [w](const torch::Tensor& t, const torch::Tensor& y) {
      return torch::tanh(torch::matmul(y, w.t())) * (1 + 0.3 * torch::sin(t)) - 0.1 * y;
    };
    const auto y0 = torch::randn({64, 8}, dtype);
    const auto ts = torch::tensor({0.0, 2.5, 6.0}, torch::kFloat64);
    for (const auto method : {Method::Dopri5, Method::Tsit5, Method::Bosh3}) {
      const auto options = SolveOptions().method(method).rtol(1e-6).atol(1e-8);
      const auto with_graph = dd::ode::solve(f, y0, ts, options);
      ASSERT_TRUE(with_graph.ys.requires_grad());
      dd::ode::Solution without;
      {
        torch::NoGradGuard no_grad;
        without = dd::ode::solve(f, y0, ts, options);
      }
      EXPECT_EQ(with_graph.stats->nfe, without.stats->nfe) << dd::ode::method_name(method);
      EXPECT_TRUE(torch::equal(with_graph.ys.detach(), without.ys)) << dd::ode::method_name(method);
    }
  }
}

namespace {

/// dL/d(y0, parameters, ts) of L = sum(w * ys) for a solve of `field` with these options.
std::vector<torch::Tensor> weighted_gradients(const std::function<dd::ode::Solution(const torch::Tensor&)>& solve,
                                              const torch::Tensor& y0, const torch::Tensor& ts,
                                              const std::vector<torch::Tensor>& params, const torch::Tensor& w,
                                              dd::ode::Solution& solution) {
  solution = solve(y0);
  std::vector<torch::Tensor> inputs = {y0, ts};
  inputs.insert(inputs.end(), params.begin(), params.end());
  return torch::autograd::grad({(solution.ys * w).sum()}, inputs);
}

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / (b.abs().max().item<double>() + 1e-30);
}

}  // namespace

// A field that jumps at t = 0.5 (jump_ts): the step after the jump samples it just past 0.5. A
// Checkpointed segment that starts there must sample it alike when it re-runs, or its gradient is
// that of another solve. One checkpoint per step puts a segment start on the jump.
TEST(CheckpointedState, ASegmentThatStartsAtAJumpIsReRunPastTheJump) {
  torch::manual_seed(9);
  auto w = (torch::randn({3, 3}, torch::kFloat64) * 0.5).requires_grad_();
  const dd::ode::Field field = [w](const torch::Tensor& t, const torch::Tensor& y) {
    return torch::tanh(torch::matmul(y, w.t())) * (t.item<double>() > 0.5 ? 3.0 : 1.0);
  };
  const auto y0 = torch::randn({4, 3}, torch::kFloat64).requires_grad_();
  const auto ts = torch::tensor({0.0, 1.0}, torch::kFloat64);
  for (const auto& options : {SolveOptions().method(Method::RK4).step_size(0.125).jump_ts({0.5}),
                              SolveOptions().method(Method::Dopri5).rtol(1e-8).atol(1e-10).jump_ts({0.5})}) {
    std::vector<std::vector<torch::Tensor>> grads;
    for (const dd::ode::Gradient& gradient :
         std::vector<dd::ode::Gradient>{Direct{}, Checkpointed().checkpoints(100)}) {
      const auto sol = dd::ode::solve(field, y0, ts, SolveOptions(options).params({w}).gradient(gradient));
      grads.push_back(torch::autograd::grad({sol.ys.square().sum()}, {y0, w}));
    }
    for (size_t i = 0; i < 2; ++i)
      EXPECT_LE(relative_difference(grads[1][i], grads[0][i]), 1e-12) << dd::ode::method_name(options.method());
  }
}

// A module with a vjp (MLPField) takes the tapeless Direct gradient: its reverse sweep must give
// the gradient autograd takes through the same steps (the same field as a plain callable), for
// outputs inside steps (the method's interpolant, a fixed grid's linear one), jumps and forced
// steps, reversed time, the output times' gradient, narrow and deep networks, both dtypes; and so
// must the Checkpointed gradient's sweep over each re-run segment.
TEST(Tapeless, DirectGradientIsAutogradsThroughTheSameSteps) {
  struct Case {
    std::string name;
    SolveOptions options;
    std::vector<double> ts;
  };
  const std::vector<Case> cases = {
      {"dopri5", SolveOptions().rtol(1e-6).atol(1e-8), {0.0, 0.3, 0.7, 1.5, 2.0}},
      {"tsit5 jump and step", SolveOptions().method(Method::Tsit5).jump_ts({0.9}).step_ts({1.2}), {0.0, 1.0, 2.0}},
      {"rk4 grid", SolveOptions().method(Method::RK4).step_size(0.1), {0.0, 0.25, 0.5, 1.0}},
      {"euler grid with a jump",
       SolveOptions().method(Method::Euler).grid({0.0, 0.2, 0.5, 0.8, 1.0}).jump_ts({0.5}),
       {0.0, 0.6, 1.0}},
      {"dopri5 reversed", SolveOptions().rtol(1e-6).atol(1e-8), {2.0, 1.1, 0.0}},
  };
  for (const auto dtype : {torch::kFloat64, torch::kFloat32})
    for (const bool narrow : {true, false}) {
      torch::manual_seed(5);
      auto options = dd::ode::MLPFieldOptions(3).time_input(true).cube_input(narrow);
      if (!narrow) options.hidden({12, 9}).activation(dd::core::Activation::Softplus);
      dd::ode::MLPField field(options);
      field->to(dtype);
      field->standardize(torch::randn({40, 3}, dtype) * 2 + 0.5);
      {
        torch::NoGradGuard no_grad;
        for (auto& p : field->parameters()) p.mul_(5);
      }
      const dd::ode::Field plain = [impl = field.ptr()](const torch::Tensor& t, const torch::Tensor& y) {
        return impl->forward(t, y);
      };
      for (const auto& c : cases) {
        const auto what =
            c.name + (narrow ? ", narrow " : ", deep ") + (dtype == torch::kFloat32 ? "float32" : "float64");
        const auto y0 = torch::randn({5, 3}, dtype).requires_grad_();
        const auto ts = torch::tensor(c.ts, torch::kFloat64).requires_grad_();
        const auto w = torch::randn({static_cast<int64_t>(c.ts.size()), 5, 3}, dtype);
        dd::ode::Solution tapeless, recorded;
        const auto ours =
            weighted_gradients([&](const torch::Tensor& y) { return dd::ode::solve(field, y, ts, c.options); }, y0, ts,
                               field->parameters(), w, tapeless);
        const auto theirs =
            weighted_gradients([&](const torch::Tensor& y) { return dd::ode::solve(plain, y, ts, c.options); }, y0, ts,
                               field->parameters(), w, recorded);
        EXPECT_GT(tapeless.stats->nfe_backward, 0) << what << ": the tapeless sweep did not run";
        EXPECT_EQ(recorded.stats->nfe_backward, 0) << what;
        EXPECT_EQ(tapeless.stats->nfe, recorded.stats->nfe) << what;
        EXPECT_TRUE(torch::equal(tapeless.ys.detach(), recorded.ys.detach())) << what;
        const double tol = dtype == torch::kFloat32 ? 2e-4 : 1e-10;
        for (size_t i = 0; i < ours.size(); ++i)
          EXPECT_LE(relative_difference(ours[i], theirs[i]), tol) << what << ", gradient " << i;
        // Checkpointed re-runs each segment without a graph and sweeps it back alike: the same
        // gradient, from a single segment to one per step (segments that start at a jump).
        for (const int64_t checkpoints : {1, 100}) {
          dd::ode::Solution checkpointed;
          const auto swept = weighted_gradients(
              [&](const torch::Tensor& y) {
                return dd::ode::solve(field, y, ts,
                                      SolveOptions(c.options).gradient(Checkpointed().checkpoints(checkpoints)));
              },
              y0, ts, field->parameters(), w, checkpointed);
          EXPECT_EQ(checkpointed.stats->steps_backward, checkpointed.stats->steps - checkpointed.stats->rejected)
              << what;
          for (size_t i = 0; i < swept.size(); ++i)
            EXPECT_LE(relative_difference(swept[i], theirs[i]), tol)
                << what << ", checkpoints " << checkpoints << ", gradient " << i;
        }
      }
    }
}

// The adjoint's backward field by the module's vjp (no graph per evaluation) against the same
// adjoint through autograd: the same function, so the same backward steps to round-off.
TEST(Tapeless, AdjointByTheFieldsVJPIsTheAdjointThroughAutograd) {
  torch::manual_seed(6);
  dd::ode::MLPField field(dd::ode::MLPFieldOptions(2).hidden({20}).time_input(true));
  field->to(torch::kFloat64);
  const dd::ode::Field plain = [impl = field.ptr()](const torch::Tensor& t, const torch::Tensor& y) {
    return impl->forward(t, y);
  };
  const auto options = SolveOptions().rtol(1e-8).atol(1e-10).gradient(Adjoint{});
  const auto y0 = torch::randn({6, 2}, torch::kFloat64).requires_grad_();
  const auto ts = torch::tensor({0.0, 0.8, 2.0}, torch::kFloat64).requires_grad_();
  const auto w = torch::randn({3, 6, 2}, torch::kFloat64);
  dd::ode::Solution with_vjp, through_autograd;
  const auto ours = weighted_gradients([&](const torch::Tensor& y) { return dd::ode::solve(field, y, ts, options); },
                                       y0, ts, field->parameters(), w, with_vjp);
  const auto theirs = weighted_gradients(
      [&](const torch::Tensor& y) {
        return dd::ode::solve(plain, y, ts, SolveOptions(options).params(field->parameters()));
      },
      y0, ts, field->parameters(), w, through_autograd);
  EXPECT_EQ(with_vjp.stats->nfe_backward, through_autograd.stats->nfe_backward);
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_LE(relative_difference(ours[i], theirs[i]), 1e-9) << "gradient " << i;
}

TEST(Tapeless, ItsGradientIsNotDifferentiatedAgainAndAVJPNeedsParams) {
  torch::manual_seed(7);
  dd::ode::MLPField field(dd::ode::MLPFieldOptions(2).hidden({8}));
  const auto y0 = torch::randn({4, 2}).requires_grad_();
  const auto ts = torch::tensor({0.0, 1.0}, torch::kFloat64);
  const auto loss = dd::ode::solve(field, y0, ts).ys.square().sum();
  try {
    torch::autograd::grad({loss}, {y0}, {}, /*retain_graph=*/true, /*create_graph=*/true);
    ADD_FAILURE() << "create_graph through the tapeless gradient was not refused";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot be differentiated again"), std::string::npos) << e.what();
  }
  const dd::ode::Field plain = [impl = field.ptr()](const torch::Tensor& t, const torch::Tensor& y) {
    return impl->forward(t, y);
  };
  const auto vjp = [impl = field.ptr()](const torch::Tensor& t, const torch::Tensor& y, const torch::Tensor& v,
                                        const std::vector<torch::Tensor>& grads,
                                        bool with_value) { return impl->vjp(t, y, v, grads, with_value); };
  try {
    dd::ode::solve(plain, y0, ts, SolveOptions().vjp(vjp));
    ADD_FAILURE() << "a vjp without params was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("SolveOptions::params"), std::string::npos) << e.what();
  }
}
