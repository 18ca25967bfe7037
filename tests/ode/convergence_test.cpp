// Convergence order of every method: on a smooth problem with a fixed step, the
// slope of log(error) against log(step) must be within 0.3 of the method's order.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <cmath>

namespace dd = deepdyn;
using dd::ode::Method;

namespace {

// y' = y cos(t), y(0) = 1: exact y = exp(sin t), integrated over [0, t1].
double final_error(Method method, double t1, int steps) {
  auto field = [](const torch::Tensor& t, const torch::Tensor& y) { return y * torch::cos(t); };
  auto ts = torch::tensor({0.0, t1}, torch::kFloat64);
  // Implicit methods solve their stages to rtol/atol: far below the discretisation error here.
  auto sol = dd::ode::solve(field, torch::ones({1}, torch::kFloat64), ts,
                            dd::ode::SolveOptions().method(method).step_size(t1 / steps).rtol(1e-14).atol(1e-16));
  return std::abs(sol.ys[1].item<double>() - std::exp(std::sin(t1)));
}

// Least-squares slope of log(error) over log(h).
double observed_order(Method method, double t1, const std::vector<int>& steps) {
  std::vector<double> x, y;
  for (int n : steps) {
    x.push_back(std::log(t1 / n));
    y.push_back(std::log(final_error(method, t1, n)));
  }
  const double k = static_cast<double>(x.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) sx += x[i], sy += y[i], sxx += x[i] * x[i], sxy += x[i] * y[i];
  return (k * sxy - sx * sy) / (k * sxx - sx * sx);
}

class Convergence : public ::testing::TestWithParam<Method> {};

TEST_P(Convergence, SlopeMatchesOrder) {
  const auto& tab = dd::ode::tableau(GetParam());
  // Step counts keep errors between roughly 1e-3 and 1e-11: asymptotic, above round-off.
  // The fifth-order pairs run over a longer interval: tsit5's leading error coefficients
  // are tiny by design, so on [0, 2] it stays pre-asymptotic down to float64 round-off.
  double t1 = 2.0;
  std::vector<int> steps;
  switch (tab.order) {
    case 1:
      steps = {200, 400, 800, 1600};
      break;
    case 2:
      steps = {50, 100, 200, 400};
      break;
    case 3:
      steps = {25, 50, 100, 200};
      break;
    case 4:
      steps = {12, 24, 48, 96};
      break;
    case 5:
      t1 = 10.0, steps = {32, 64, 128};
      break;
    default:
      steps = {4, 6, 8, 10};
      break;
  }
  const double order = observed_order(GetParam(), t1, steps);
  EXPECT_NEAR(order, tab.order, 0.3) << dd::ode::method_name(GetParam());
}

INSTANTIATE_TEST_SUITE_P(AllMethods, Convergence, ::testing::ValuesIn(dd::ode::all_methods()),
                         [](const auto& info) { return dd::ode::method_name(info.param); });

}  // namespace
