#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <cmath>

namespace dd = deepdyn;
using dd::ode::Method;
using dd::ode::SolveOptions;

namespace {

TEST(Solve, SingleTimeReturnsInitialState) {
  auto y0 = torch::randn({3, 2}, torch::kFloat64);
  int calls = 0;
  auto sol = dd::ode::solve(
      [&](const torch::Tensor&, const torch::Tensor& y) {
        ++calls;
        return y;
      },
      y0, torch::tensor({2.0}, torch::kFloat64));
  EXPECT_TRUE(torch::equal(sol.ys, y0.unsqueeze(0)));
  EXPECT_EQ(calls, 0);
}

TEST(Solve, BatchedStateKeepsItsShape) {
  auto y0 = torch::randn({4, 3, 2}, torch::kFloat32);
  auto ts = torch::linspace(0, 1, 7, torch::kFloat64);
  auto sol = dd::ode::solve([](const torch::Tensor&, const torch::Tensor& y) { return -y; }, y0, ts);
  ASSERT_EQ(sol.ys.sizes(), (std::vector<int64_t>{7, 4, 3, 2}));
  EXPECT_TRUE(torch::allclose(sol.ys[6], y0 * std::exp(-1.0), 1e-5, 1e-6));
}

TEST(Solve, ReversedTimeMatchesForwardAndReportsNegativeSteps) {
  auto field = [](const torch::Tensor& t, const torch::Tensor& y) { return torch::cos(t) * y; };
  auto y0 = torch::ones({1}, torch::kFloat64);
  auto forward = dd::ode::solve(field, y0, torch::tensor({0.0, 3.0}, torch::kFloat64));
  auto backward = dd::ode::solve(field, forward.ys[1], torch::tensor({3.0, 0.0}, torch::kFloat64));
  EXPECT_NEAR(backward.ys[1].item<double>(), 1.0, 1e-6);
  EXPECT_LT(backward.stats->initial_dt, 0.0);
  EXPECT_GT(forward.stats->initial_dt, 0.0);
}

TEST(Solve, StatsAddUp) {
  auto sol = dd::ode::solve([](const torch::Tensor&, const torch::Tensor& y) { return -y * y * y; },
                            torch::ones({1}, torch::kFloat64), torch::tensor({0.0, 10.0}, torch::kFloat64),
                            SolveOptions().method(Method::Dopri5));
  const auto& s = *sol.stats;
  EXPECT_EQ(s.steps, s.accepted + s.rejected);
  // dopri5 is FSAL: 6 new evaluations per step, plus f(t0) and the starting-step probe.
  EXPECT_EQ(s.nfe, 6 * s.steps + 2);
  EXPECT_GT(s.final_dt, 0.0);
}

TEST(Solve, TupleStateWithPerComponentTolerances) {
  // (x, v) of an oscillator as two tensors of different shapes.
  dd::ode::TupleField field = [](const torch::Tensor&, const std::vector<torch::Tensor>& s) {
    return std::vector<torch::Tensor>{s[1].unsqueeze(0), -s[0].squeeze(0)};
  };
  std::vector<torch::Tensor> y0 = {torch::ones({1}, torch::kFloat64), torch::scalar_tensor(0.0, torch::kFloat64)};
  auto ts = torch::linspace(0, 5, 6, torch::kFloat64);
  auto tight = dd::ode::solve(field, y0, ts, SolveOptions().rtol({1e-9, 1e-9}).atol({1e-12, 1e-12}));
  ASSERT_EQ(tight.ys.size(), 2u);
  EXPECT_EQ(tight.ys[0].sizes(), (std::vector<int64_t>{6, 1}));
  EXPECT_EQ(tight.ys[1].sizes(), (std::vector<int64_t>{6}));
  EXPECT_TRUE(torch::allclose(tight.ys[0].squeeze(1), torch::cos(ts), 1e-7, 1e-8));
  EXPECT_TRUE(torch::allclose(tight.ys[1], -torch::sin(ts), 1e-7, 1e-8));
  // Loosening the tolerance of one component alone lets the solver take fewer steps.
  auto loose = dd::ode::solve(field, y0, ts, SolveOptions().rtol({1e-9, 1e-3}).atol({1e-12, 1e-3}));
  EXPECT_LT(loose.stats->nfe, tight.stats->nfe);
}

TEST(Solve, ErrorControlLeavesComponentsOut) {
  // x' = -x is error-controlled; q' = sin(40 t) x is an integral carried along (like RNODE's).
  dd::ode::TupleField field = [](const torch::Tensor& t, const std::vector<torch::Tensor>& s) {
    return std::vector<torch::Tensor>{-s[0], torch::sin(40 * t) * s[0]};
  };
  std::vector<torch::Tensor> y0 = {torch::ones({1}, torch::kFloat64), torch::zeros({1}, torch::kFloat64)};
  auto ts = torch::tensor({0.0, 2.0}, torch::kFloat64);
  auto all = dd::ode::solve(field, y0, ts, SolveOptions().rtol(1e-8).atol(1e-10));
  auto masked = dd::ode::solve(field, y0, ts, SolveOptions().rtol(1e-8).atol(1e-10).error_control({true, false}));
  EXPECT_LT(masked.stats->nfe, all.stats->nfe);
  EXPECT_NEAR(masked.ys[0][1].item<double>(), std::exp(-2.0), 1e-7);
}

struct Decay : torch::nn::Module {
  torch::Tensor rate = register_parameter("rate", torch::tensor(0.7, torch::kFloat64));
  torch::Tensor forward(const torch::Tensor&, const torch::Tensor& y) { return -rate * y; }
};

TEST(Solve, ModuleFieldAndDirectBackprop) {
  auto module = std::make_shared<Decay>();
  auto y0 = torch::tensor({2.0}, torch::kFloat64).requires_grad_();
  auto ts = torch::tensor({0.0, 1.5}, torch::kFloat64);
  auto sol = dd::ode::solve(module, y0, ts, SolveOptions().rtol(1e-10).atol(1e-12));
  sol.ys[1].sum().backward();
  // y(T) = y0 exp(-k T): dy/dy0 = exp(-k T), dy/dk = -T y0 exp(-k T).
  const double k = 0.7, T = 1.5;
  EXPECT_NEAR(y0.grad().item<double>(), std::exp(-k * T), 1e-8);
  EXPECT_NEAR(module->rate.grad().item<double>(), -T * 2.0 * std::exp(-k * T), 1e-8);
}

// The documented forms of SolveOptions::params: {} (y0 only) and a braced list of tensors.
TEST(Solve, ParamsTakesAnEmptyListOrABracedListOfTensors) {
  auto w = torch::tensor({-0.5}, torch::kFloat64).requires_grad_();
  auto b = torch::tensor({0.2}, torch::kFloat64).requires_grad_();
  auto field = [&](const torch::Tensor&, const torch::Tensor& y) { return w * y + b; };
  const auto ts = torch::tensor({0.0, 1.0}, torch::kFloat64);
  auto gradients = [&](SolveOptions options) {
    auto y0 = torch::ones({1}, torch::kFloat64).requires_grad_();
    for (auto* p : {&w, &b}) p->mutable_grad() = torch::Tensor();
    dd::ode::solve(field, y0, ts, options.rtol(1e-10).atol(1e-12)).ys[-1].sum().backward();
    return std::vector<torch::Tensor>{y0.grad(), w.grad(), b.grad()};
  };
  const auto direct = gradients(SolveOptions());
  const auto y0_only = gradients(SolveOptions().gradient(dd::ode::Adjoint{}).params({}));
  EXPECT_TRUE(torch::allclose(y0_only[0], direct[0], 1e-7, 0));
  EXPECT_FALSE(y0_only[1].defined());
  const auto both = gradients(SolveOptions().gradient(dd::ode::Adjoint{}).params({w, b}));
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::allclose(both[i], direct[i], 1e-7, 0)) << i;
}

TEST(Solve, ModuleHolderConvertsToField) {
  struct LinearFieldImpl : torch::nn::Module {
    torch::nn::Linear linear{nullptr};
    LinearFieldImpl() { linear = register_module("linear", torch::nn::Linear(2, 2)); }
    torch::Tensor forward(const torch::Tensor&, const torch::Tensor& y) { return linear(y); }
  };
  TORCH_MODULE(LinearField);
  LinearField net;
  auto sol = dd::ode::solve(net, torch::randn({5, 2}), torch::linspace(0, 1, 3, torch::kFloat64));
  EXPECT_EQ(sol.ys.sizes(), (std::vector<int64_t>{3, 5, 2}));
  EXPECT_TRUE(sol.ys.requires_grad());
}

TEST(StepControl, JumpTimesSaveEvaluationsAtDiscontinuities) {
  // torchdiffeq's test_odeint_step_locations: a field that switches at t = 0.5.
  for (auto method : {Method::Bosh3, Method::Dopri5, Method::Tsit5, Method::Dopri8, Method::HeunEuler}) {
    int64_t calls = 0;
    auto field = [&](const torch::Tensor& t, const torch::Tensor& x) {
      ++calls;
      return t.item<double>() < 0.5 ? -0.5 * x : x * x;
    };
    auto x0 = torch::tensor({1.0, 2.0}, torch::kFloat64);
    auto ts = torch::tensor({0.0, 1.0}, torch::kFloat64);
    auto with_jump = dd::ode::solve(field, x0, ts, SolveOptions().method(method).jump_ts({0.5}));
    const int64_t jump_calls = calls;
    calls = 0;
    auto without = dd::ode::solve(field, x0, ts, SolveOptions().method(method));
    EXPECT_LT(jump_calls, calls) << dd::ode::method_name(method);
    EXPECT_EQ(with_jump.stats->nfe, jump_calls);
    EXPECT_TRUE(torch::allclose(with_jump.ys, without.ys, 1e-4, 1e-5));
  }
}

TEST(StepControl, StepTimesAreLandedOnExactly) {
  std::vector<double> seen;
  auto field = [&](const torch::Tensor& t, const torch::Tensor& y) {
    seen.push_back(t.item<double>());
    return -y;
  };
  dd::ode::solve(field, torch::ones({1}, torch::kFloat64), torch::tensor({0.0, 4.0}, torch::kFloat64),
                 SolveOptions().step_ts({1.2345, 3.14159}));
  // dopri5 evaluates its FSAL stage at the end of every step: the stop times appear exactly.
  EXPECT_NE(std::find(seen.begin(), seen.end(), 1.2345), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), 3.14159), seen.end());
}

TEST(StepControl, MaxStepBoundsEveryStep) {
  auto sol =
      dd::ode::solve([](const torch::Tensor&, const torch::Tensor& y) { return -y; }, torch::ones({1}, torch::kFloat64),
                     torch::tensor({0.0, 10.0}, torch::kFloat64), SolveOptions().step_control(dd::ode::StepControl().max_step(0.5)));
  EXPECT_GE(sol.stats->accepted, 20);
}

TEST(StepControl, FirstStepIsUsedWhenGiven) {
  auto sol =
      dd::ode::solve([](const torch::Tensor&, const torch::Tensor& y) { return -y; }, torch::ones({1}, torch::kFloat64),
                     torch::tensor({0.0, 1.0}, torch::kFloat64), SolveOptions().step_control(dd::ode::StepControl().first_step(0.0123)));
  EXPECT_DOUBLE_EQ(sol.stats->initial_dt, 0.0123);
}

TEST(FixedGrid, ExplicitGridAndStepSizeAgree) {
  auto field = [](const torch::Tensor& t, const torch::Tensor& y) { return torch::sin(t) - y; };
  auto y0 = torch::zeros({1}, torch::kFloat64);
  auto ts = torch::tensor({0.0, 1.0}, torch::kFloat64);
  auto by_step = dd::ode::solve(field, y0, ts, SolveOptions().method(Method::RK4).step_size(0.25));
  auto by_grid = dd::ode::solve(field, y0, ts, SolveOptions().method(Method::RK4).grid({0.0, 0.25, 0.5, 0.75, 1.0}));
  EXPECT_TRUE(torch::equal(by_step.ys, by_grid.ys));
  EXPECT_EQ(by_step.stats->nfe, 16);
  EXPECT_EQ(by_step.stats->steps, 4);
}

// A step size that needs more than max_steps steps stops at max_steps without laying out the whole
// grid (1e9 points at h = 1e-9); one below the times' resolution is refused.
TEST(FixedGrid, TinyStepSizesStopAtMaxStepsOrAreRefused) {
  auto decay = [](const torch::Tensor&, const torch::Tensor& y) { return -y; };
  const auto y0 = torch::ones({1}, torch::kFloat64);
  try {
    dd::ode::solve(decay, y0, torch::tensor({0.0, 1.0}, torch::kFloat64),
                   SolveOptions().method(Method::Euler).step_size(1e-9).max_steps(1000));
    FAIL() << "expected MaxStepsReached";
  } catch (const dd::ode::SolveError& e) {
    EXPECT_EQ(e.termination(), dd::core::Termination::MaxSteps);
    EXPECT_NEAR(e.t(), 1000 * 1e-9, 1e-15);
  }
  const auto late = torch::tensor({1e6, 1e6 + 1}, torch::kFloat64);
  try {
    dd::ode::solve(decay, y0, late, SolveOptions().method(Method::Euler).step_size(1e-12));
    FAIL() << "expected a refusal";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("below the resolution of times near t = 1e+06"),
              std::string::npos)
        << e.what_without_backtrace();
  }
}

TEST(FixedGrid, DefaultsToTheOutputTimes) {
  auto sol =
      dd::ode::solve([](const torch::Tensor&, const torch::Tensor& y) { return -y; }, torch::ones({1}, torch::kFloat64),
                     torch::linspace(0, 1, 11, torch::kFloat64), SolveOptions().method(Method::Euler));
  // Euler on the grid of ts: y_n = (1 - 0.1)^n.
  EXPECT_NEAR(sol.ys[10].item<double>(), std::pow(0.9, 10), 1e-12);
  EXPECT_EQ(sol.stats->nfe, 10);
}

TEST(FixedGrid, AdaptiveMethodOnAFixedGridIgnoresItsErrorEstimate) {
  auto sol =
      dd::ode::solve([](const torch::Tensor&, const torch::Tensor& y) { return -y; }, torch::ones({1}, torch::kFloat64),
                     torch::tensor({0.0, 1.0}, torch::kFloat64), SolveOptions().method(Method::Dopri5).step_size(0.5));
  EXPECT_EQ(sol.stats->steps, 2);
  EXPECT_EQ(sol.stats->rejected, 0);
}

}  // namespace
