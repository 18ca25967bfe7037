// torchdiffeq's solution tests (tests/odeint_tests.py), run for every method,
// both dtypes and both time directions, against exact solutions.
#include <gtest/gtest.h>

#include <tuple>

#include "ode/problems.h"

namespace dd = deepdyn;
using dd::ode::Method;

namespace {

struct Case {
  Method method;
  torch::Dtype dtype;
  bool reversed;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return dd::ode::method_name(info.param.method) + (info.param.dtype == torch::kFloat32 ? "_f32" : "_f64") +
         (info.param.reversed ? "_reversed" : "_forward");
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (auto m : dd::ode::all_methods())
    for (auto dtype : {torch::kFloat32, torch::kFloat64})
      for (bool reversed : {false, true}) cases.push_back({m, dtype, reversed});
  return cases;
}

// Fixed-grid methods have no tolerance: they get a step size small enough for
// their order to reach the same accuracy class as the adaptive methods.
double fixed_step_for(Method m) {
  switch (dd::ode::tableau(m).order) {
    case 1:
      return 1e-4;
    case 2:
      return 2e-3;
    case 3:
      return 1e-2;
    default:
      return 2e-2;
  }
}

double tolerance_for(Method m) {
  if (m == Method::HeunEuler || m == Method::Bosh3 || m == Method::Kvaerno3) return 4e-3;
  if (!dd::ode::is_adaptive(m) && dd::ode::tableau(m).order <= 2) return 4e-3;
  return 3e-4;
}

class PeerProblems : public ::testing::TestWithParam<Case> {};

TEST_P(PeerProblems, MatchExactSolution) {
  const auto [method, dtype, reversed] = GetParam();
  auto opts = dd::ode::SolveOptions().method(method);
  if (method == Method::Dopri8 && dtype == torch::kFloat64) opts.rtol(1e-12).atol(1e-14);
  // Outputs fall between grid points: cubic Hermite keeps them at the method's accuracy.
  if (!dd::ode::is_adaptive(method))
    opts.step_size(fixed_step_for(method)).interpolation(dd::ode::Interpolation::CubicHermite);

  auto ts = torch::linspace(1, 8, 10, torch::kFloat64);
  if (reversed) ts = ts.flip(0);
  for (const auto& problem :
       {dd::testing::constant_ode(), dd::testing::sine_ode(), dd::testing::linear_ode(dtype), dd::testing::exp_ode()}) {
    SCOPED_TRACE(problem.name);
    auto exact = problem.exact(ts);
    auto y0 = exact[0].to(dtype);
    auto sol = dd::ode::solve(problem.field, y0, ts, opts);
    ASSERT_EQ(sol.ys.sizes(), exact.sizes());
    EXPECT_EQ(sol.ys.scalar_type(), dtype);
    EXPECT_TRUE(torch::equal(sol.ys[0], y0));
    EXPECT_EQ(sol.stats->termination, dd::core::Termination::Success);
    EXPECT_LT(dd::testing::max_relative_error(exact, sol.ys), tolerance_for(method));
  }
}

INSTANTIATE_TEST_SUITE_P(AllMethods, PeerProblems, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
