// Outputs at ts come from each step's interpolant: asking for 1000 times costs
// no extra field evaluation, and the interpolated values keep the solver's accuracy.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

namespace dd = deepdyn;
using dd::ode::Method;

namespace {

// Harmonic oscillator y'' = -y as a first-order system; exact (cos t, -sin t).
torch::Tensor oscillator(const torch::Tensor&, const torch::Tensor& y) { return torch::stack({y[1], -y[0]}); }

torch::Tensor exact(const torch::Tensor& ts) { return torch::stack({torch::cos(ts), -torch::sin(ts)}, 1); }

class DenseOutput : public ::testing::TestWithParam<Method> {};

TEST_P(DenseOutput, ManyOutputsCostNothingAndStayAccurate) {
  const double rtol = 1e-6, atol = 1e-9;
  auto opts = dd::ode::SolveOptions().method(GetParam()).rtol(rtol).atol(atol);
  auto y0 = torch::tensor({1.0, 0.0}, torch::kFloat64);
  auto ends = torch::tensor({0.0, 10.0}, torch::kFloat64);
  auto dense = torch::linspace(0.0, 10.0, 1000, torch::kFloat64);

  auto coarse = dd::ode::solve(oscillator, y0, ends, opts);
  auto fine = dd::ode::solve(oscillator, y0, dense, opts);
  // Methods without first-same-as-last may need f at the end of the last step for its
  // Hermite interpolant; every other step reuses that evaluation as its successor's first stage.
  const int64_t extra = dd::ode::tableau(GetParam()).fsal() ? 0 : 1;
  EXPECT_GE(fine.stats->nfe, coarse.stats->nfe);
  EXPECT_LE(fine.stats->nfe, coarse.stats->nfe + extra);
  EXPECT_EQ(fine.stats->accepted, coarse.stats->accepted);
  EXPECT_GT(coarse.stats->accepted, 5) << "the test needs several steps to have points between them";

  // The error between steps stays of the size of the error the solver makes at its steps.
  const double step_error = (coarse.ys[1] - exact(ends)[1]).abs().max().item<double>();
  const double dense_error = (fine.ys - exact(dense)).abs().max().item<double>();
  EXPECT_LT(dense_error, 3 * step_error + 10 * rtol) << "step error " << step_error;
}

INSTANTIATE_TEST_SUITE_P(AdaptiveMethods, DenseOutput,
                         ::testing::Values(Method::HeunEuler, Method::Fehlberg2, Method::Bosh3, Method::Dopri5,
                                           Method::Tsit5, Method::Dopri8),
                         [](const auto& info) { return dd::ode::method_name(info.param); });

TEST(DenseOutputFixedGrid, HermiteBeatsLinearBetweenGridPoints) {
  auto y0 = torch::tensor({1.0, 0.0}, torch::kFloat64);
  auto dense = torch::linspace(0.0, 10.0, 1000, torch::kFloat64);
  auto opts = dd::ode::SolveOptions().method(Method::RK4).step_size(0.1);
  auto linear = dd::ode::solve(oscillator, y0, dense, opts);
  auto hermite = dd::ode::solve(oscillator, y0, dense, opts.interpolation(dd::ode::Interpolation::CubicHermite));
  const double linear_error = (linear.ys - exact(dense)).abs().max().item<double>();
  const double hermite_error = (hermite.ys - exact(dense)).abs().max().item<double>();
  EXPECT_LT(linear_error, 2e-3);  // (h^2 / 8) max |y''| = 1.25e-3
  EXPECT_LT(hermite_error, 1e-5);
  // Hermite needs f at the grid points, which the next step evaluates anyway: at most one extra.
  EXPECT_LE(hermite.stats->nfe, linear.stats->nfe + 1);
}

}  // namespace
