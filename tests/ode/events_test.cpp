// Events: crossings located on the dense output, terminal stops (per row in a batch), recorded
// crossings, and event times differentiated by the implicit function theorem, against closed forms.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <cmath>

#include "support/error_message.h"

namespace dd = deepdyn;
using dd::ode::Event;
using dd::ode::Method;
using dd::ode::SolveOptions;

namespace {

constexpr double kGravity = 9.81;

/// A ball in free fall, state [..., (height, velocity)]: a quadratic in t, which every method of
/// order >= 2 integrates exactly, so only the event location is being tested.
torch::Tensor falling(const torch::Tensor& /*t*/, const torch::Tensor& y) {
  auto velocity = y.narrow(-1, 1, 1);
  return torch::cat({velocity, torch::full_like(velocity, -kGravity)}, -1);
}

torch::Tensor height(const torch::Tensor& /*t*/, const torch::Tensor& y) { return y.select(-1, 0); }

class BallDrop : public ::testing::TestWithParam<Method> {};

TEST_P(BallDrop, ImpactTimeAndItsGradientAreAnalytic) {
  const double h = 2.0;
  auto y0 = torch::tensor({h, 0.0}, torch::kFloat64).requires_grad_();
  auto ts = torch::tensor({0.0, 0.3, 1.0, 2.0}, torch::kFloat64);
  auto options = SolveOptions().method(GetParam()).event(Event(height).direction(-1));
  // A fixed grid locates events on its outputs' interpolant: cubic Hermite is exact on a quadratic.
  if (!dd::ode::is_adaptive(GetParam())) options.step_size(0.1).interpolation(dd::ode::Interpolation::CubicHermite);
  auto sol = dd::ode::solve(falling, y0, ts, options);

  const double impact = std::sqrt(2 * h / kGravity);  // 0.6386 s
  ASSERT_EQ(sol.events.size(), 1u);
  EXPECT_NEAR(sol.events[0].t.item<double>(), impact, 1e-9);
  EXPECT_NEAR(sol.events[0].y[0].item<double>(), 0.0, 1e-8);
  EXPECT_NEAR(sol.events[0].y[1].item<double>(), -std::sqrt(2 * kGravity * h), 1e-8);
  // The output before the impact is the free fall; the later ones hold the state at the impact.
  EXPECT_NEAR(sol.ys[1][0].item<double>(), h - kGravity * 0.09 / 2, 1e-9);
  for (int i : {2, 3}) EXPECT_TRUE(torch::allclose(sol.ys[i], sol.events[0].y.detach()));

  // t* = (v0 + sqrt(v0^2 + 2 g h)) / g: dt*/dh = 1 / sqrt(2 g h), dt*/dv0 = 1 / g at v0 = 0.
  sol.events[0].t.backward();
  EXPECT_NEAR(y0.grad()[0].item<double>(), 1 / std::sqrt(2 * kGravity * h), 1e-7);
  EXPECT_NEAR(y0.grad()[1].item<double>(), 1 / kGravity, 1e-7);
}

INSTANTIATE_TEST_SUITE_P(Methods, BallDrop, ::testing::Values(Method::Dopri5, Method::Tsit5, Method::Kvaerno5, Method::RK4),
                         [](const auto& info) { return dd::ode::method_name(info.param); });

TEST(Events, GradientOfTheImpactTimeReachesFieldParametersThroughEveryStrategy) {
  // t* = sqrt(2 h / g): dt*/dg = -t* / (2 g).
  const double h = 1.5;
  for (const dd::ode::Gradient& gradient :
       std::vector<dd::ode::Gradient>{dd::ode::Direct{}, dd::ode::Adjoint{}, dd::ode::Checkpointed{}}) {
    SCOPED_TRACE(dd::ode::gradient_name(gradient));
    auto g = torch::tensor(kGravity, torch::kFloat64).requires_grad_();
    auto field = [g](const torch::Tensor&, const torch::Tensor& y) { return torch::stack({y[1], -g}); };
    auto options = SolveOptions().rtol(1e-10).atol(1e-12).gradient(gradient).params({g}).event(Event(height));
    auto sol = dd::ode::solve(field, torch::tensor({h, 0.0}, torch::kFloat64), torch::tensor({0.0, 5.0}, torch::kFloat64),
                              options);
    ASSERT_EQ(sol.events.size(), 1u);
    const double impact = std::sqrt(2 * h / kGravity);
    EXPECT_NEAR(sol.events[0].t.item<double>(), impact, 1e-9);
    sol.events[0].t.backward();
    EXPECT_NEAR(g.grad().item<double>(), -impact / (2 * kGravity), 1e-7);
  }
}

TEST(Events, TerminalEventInABatchStopsEachRowAtItsOwnTime) {
  const std::vector<double> heights = {0.5, 2.0, 1.0};
  auto y0 = torch::tensor({{heights[0], 0.0}, {heights[1], 0.0}, {heights[2], 0.0}}, torch::kFloat64);
  auto ts = torch::linspace(0, 1, 11, torch::kFloat64);
  auto sol = dd::ode::solve(falling, y0, ts, SolveOptions().event(Event(height).rows(true)));
  ASSERT_EQ(sol.events.size(), 3u);
  for (const auto& crossing : sol.events) {
    const double h = heights[crossing.index];
    const double impact = std::sqrt(2 * h / kGravity);
    EXPECT_NEAR(crossing.t.item<double>(), impact, 1e-9) << "row " << crossing.index;
    ASSERT_EQ(crossing.y.sizes(), (std::vector<int64_t>{2}));
    // Each row's outputs follow its free fall until its impact and hold the impact state after.
    for (int64_t i = 0; i < ts.size(0); ++i) {
      const double t = ts[i].item<double>();
      const double expected = t < impact ? h - kGravity * t * t / 2 : 0.0;
      EXPECT_NEAR(sol.ys[i][crossing.index][0].item<double>(), expected, 1e-8) << "row " << crossing.index << " t " << t;
    }
  }
  EXPECT_LT(sol.events[0].t.item<double>(), sol.events[1].t.item<double>()) << "crossings come in time order";
}

TEST(Events, NonTerminalEventsRecordEveryCrossingInEitherTimeDirection) {
  // y = (cos t, -sin t): y[0] crosses zero at pi/2 + k pi, rising at 3 pi / 2 + 2 k pi.
  auto oscillator = [](const torch::Tensor&, const torch::Tensor& y) { return torch::stack({y[1], -y[0]}); };
  auto first = [](const torch::Tensor&, const torch::Tensor& y) { return y[0]; };
  auto y0 = torch::tensor({1.0, 0.0}, torch::kFloat64);
  auto options = SolveOptions().rtol(1e-10).atol(1e-12).event(Event(first).terminal(false));
  auto sol = dd::ode::solve(oscillator, y0, torch::tensor({0.0, 8.0}, torch::kFloat64), options);
  ASSERT_EQ(sol.events.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(sol.events[k].t.item<double>(), M_PI / 2 + k * M_PI, 1e-8);
  EXPECT_NEAR(sol.ys[1][0].item<double>(), std::cos(8.0), 1e-8) << "a non-terminal event does not stop the solve";

  auto rising = dd::ode::solve(oscillator, y0, torch::tensor({0.0, 8.0}, torch::kFloat64),
                               SolveOptions(options).event(Event(first).terminal(false).direction(1)));
  ASSERT_EQ(rising.events.size(), 1u);
  EXPECT_NEAR(rising.events[0].t.item<double>(), 3 * M_PI / 2, 1e-8);

  // Backwards from 0 to -8 (cos is even): crossings at -pi/2, -3pi/2, -5pi/2, and y[0] rises
  // with t at -pi/2 (where -sin t > 0).
  auto backward = dd::ode::solve(oscillator, y0, torch::tensor({0.0, -8.0}, torch::kFloat64),
                                 SolveOptions(options).event(Event(first).terminal(false).direction(1)));
  ASSERT_EQ(backward.events.size(), 2u);
  EXPECT_NEAR(backward.events[0].t.item<double>(), -M_PI / 2, 1e-8);
  EXPECT_NEAR(backward.events[1].t.item<double>(), -5 * M_PI / 2, 1e-8);
}

TEST(Events, BouncingBallResetsItsVelocityAtEachImpact) {
  // Each bounce keeps a fraction e of the speed: flight k lasts 2 e^k v / g after the first fall.
  const double h = 1.0, e = 0.8;
  auto y = torch::tensor({h, 0.0}, torch::kFloat64);
  double t = 0;
  std::vector<double> impacts;
  for (int bounce = 0; bounce < 4; ++bounce) {
    auto sol = dd::ode::solve(falling, y, torch::tensor({t, t + 10}, torch::kFloat64),
                              SolveOptions().event(Event(height).direction(-1)));
    ASSERT_EQ(sol.events.size(), 1u);
    t = sol.events[0].t.item<double>();
    impacts.push_back(t);
    y = sol.events[0].y.detach().clone();
    y[0] = 0.0;
    y[1] = -e * y[1];
  }
  const double v = std::sqrt(2 * kGravity * h);
  double expected = std::sqrt(2 * h / kGravity);
  for (size_t k = 0; k < impacts.size(); ++k) {
    EXPECT_NEAR(impacts[k], expected, 1e-8) << "impact " << k;
    expected += 2 * std::pow(e, k + 1) * v / kGravity;
  }
}

TEST(Events, BadEventsAreRefused) {
  auto y0 = torch::tensor({{1.0, 0.0}, {2.0, 0.0}}, torch::kFloat64);
  auto ts = torch::tensor({0.0, 1.0}, torch::kFloat64);
  auto two_values = [](const torch::Tensor&, const torch::Tensor& y) { return y.reshape(-1).narrow(0, 0, 3); };
  EXPECT_NE(dd::testing::error_message([&] {
              dd::ode::solve(falling, y0, ts, SolveOptions().event(Event(two_values).rows(true)));
            }).find("one value per batch row (2"),
            std::string::npos);
  EXPECT_NE(dd::testing::error_message([&] {
              dd::ode::solve_tuple([](const torch::Tensor&, const std::vector<torch::Tensor>& y) { return y; }, {y0},
                                   ts, SolveOptions().event(Event(height)));
            }).find("single-tensor states"),
            std::string::npos);
}

}  // namespace
