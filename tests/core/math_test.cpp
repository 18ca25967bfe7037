// core/math.h against closed forms.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <cmath>

namespace dd = deepdyn;

TEST(Math, SquaredRowNormSumsEverythingButTheBatch) {
  const auto x = torch::arange(12, torch::kFloat64).view({2, 3, 2});  // rows 0..5 and 6..11
  const auto norms = dd::core::squared_row_norm(x);
  EXPECT_DOUBLE_EQ(norms[0].item<double>(), 0 + 1 + 4 + 9 + 16 + 25);
  EXPECT_DOUBLE_EQ(norms[1].item<double>(), 36 + 49 + 64 + 81 + 100 + 121);
}

TEST(Math, DiagonalGaussianLogDensityMatchesTheClosedForm) {
  EXPECT_DOUBLE_EQ(dd::core::kLogTwoPi, std::log(2 * M_PI));
  const auto z = torch::tensor({{0.3, -1.2}}, torch::kFloat64), mean = torch::tensor({{0.1, 0.4}}, torch::kFloat64);
  const auto log_variance = torch::tensor({{std::log(0.25), std::log(4.0)}}, torch::kFloat64);
  // sum_i -0.5 ((z_i - m_i)^2 / s_i^2 + log s_i^2 + log 2 pi)
  const double expected = -0.5 * (0.2 * 0.2 / 0.25 + std::log(0.25) + std::log(2 * M_PI)) -
                          0.5 * (1.6 * 1.6 / 4.0 + std::log(4.0) + std::log(2 * M_PI));
  EXPECT_NEAR(dd::core::diagonal_gaussian_log_density(z, mean, log_variance).item<double>(), expected, 1e-14);
}

TEST(Math, StandardizationIsTheColumnsMeanAndDeviationWithOneForAConstantColumn) {
  // columns: 1, 3 (mean 2, sample deviation sqrt(2)) and a constant 5
  const auto x = torch::tensor({1.0, 5.0, 3.0, 5.0}, torch::kFloat64).view({2, 2});
  const auto [shift, scale] = dd::core::standardization(x);
  EXPECT_TRUE(torch::allclose(shift, torch::tensor({2.0, 5.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(scale, torch::tensor({std::sqrt(2.0), 1.0}, torch::kFloat64)));
  EXPECT_THROW(dd::core::standardization(torch::zeros({1, 2})), c10::Error);
}

TEST(Math, AllFiniteFindsNaNAndInfInEveryLayoutAndDtype) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    auto x = torch::randn({13, 7}, dtype);
    EXPECT_TRUE(dd::core::all_finite(x));
    EXPECT_TRUE(dd::core::all_finite(x.t()));  // strided: LibTorch's path
    for (const double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
      auto y = x.clone();
      y[12][6] = bad;  // the last element: past the kernel's loop would miss it
      EXPECT_FALSE(dd::core::all_finite(y)) << bad;
      EXPECT_FALSE(dd::core::all_finite(y.t())) << bad;
      EXPECT_FALSE(dd::core::all_finite(y.requires_grad_())) << bad;
    }
  }
  EXPECT_TRUE(dd::core::all_finite(torch::arange(5)));  // integers are always finite
  EXPECT_TRUE(dd::core::all_finite(torch::empty({0}, torch::kFloat64)));
}
