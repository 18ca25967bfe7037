#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <cmath>

namespace dd = deepdyn;
using dd::ode::Method;

namespace {

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// sum_i w_i c_i^(q-1): equals 1/q for q <= order (the quadrature order conditions).
double moment(const std::vector<double>& w, const std::vector<double>& c, int q) {
  double s = 0;
  for (size_t i = 0; i < w.size(); ++i) s += w[i] * std::pow(c[i], q - 1);
  return s;
}

class Tableaus : public ::testing::TestWithParam<Method> {};

TEST_P(Tableaus, AreConsistent) {
  const auto& t = dd::ode::tableau(GetParam());
  const int s = t.stages();
  ASSERT_EQ(static_cast<int>(t.a.size()), s);
  ASSERT_EQ(static_cast<int>(t.b.size()), s);
  EXPECT_EQ(t.c[0], 0.0);
  for (int i = 0; i < s; ++i) {
    ASSERT_EQ(static_cast<int>(t.a[i].size()), i) << "row " << i;
    // An implicit stage's own weight gamma is on the diagonal, outside a[i].
    EXPECT_NEAR(sum(t.a[i]) + (i > 0 ? t.gamma : 0.0), t.c[i], 1e-14) << "row sum " << i;
  }
  EXPECT_NEAR(sum(t.b), 1.0, 1e-14);
  for (int q = 1; q <= t.order; ++q) EXPECT_NEAR(moment(t.b, t.c, q), 1.0 / q, 1e-14) << "order condition q=" << q;
  if (t.embedded()) {
    ASSERT_EQ(static_cast<int>(t.b_error.size()), s);
    EXPECT_NEAR(sum(t.b_error), 0.0, 1e-14);
    std::vector<double> embedded(s);
    for (int i = 0; i < s; ++i) embedded[i] = t.b[i] - t.b_error[i];
    for (int q = 1; q <= t.error_order; ++q)
      EXPECT_NEAR(moment(embedded, t.c, q), 1.0 / q, 1e-14) << "embedded order condition q=" << q;
    double largest_error_weight = 0;
    for (double w : t.b_error) largest_error_weight = std::max(largest_error_weight, std::abs(w));
    EXPECT_GT(largest_error_weight, 1e-3) << "an embedded pair whose solutions coincide estimates no error";
  }
  if (!t.b_theta.empty()) {
    ASSERT_EQ(static_cast<int>(t.b_theta.size()), s);
    const size_t degree = t.b_theta[0].size();
    for (const auto& row : t.b_theta) ASSERT_EQ(row.size(), degree);
    auto weights_at = [&](double theta) {
      std::vector<double> w(s);
      for (int i = 0; i < s; ++i)
        for (size_t j = 0; j < degree; ++j) w[i] += t.b_theta[i][j] * std::pow(theta, j);
      return w;
    };
    // The extension starts at y0 (b(0) = 0), ends at the propagated solution (b(1) = b) and
    // integrates constants and linear functions exactly at every theta.
    for (double w : weights_at(0.0)) EXPECT_NEAR(w, 0.0, 1e-15);
    const auto at_one = weights_at(1.0);
    for (int i = 0; i < s; ++i) EXPECT_NEAR(at_one[i], t.b[i], 1e-12) << "b(1) at stage " << i;
    for (double theta : {0.25, 0.5, 0.8}) {
      const auto w = weights_at(theta);
      EXPECT_NEAR(sum(w), theta, 1e-12);
      EXPECT_NEAR(moment(w, t.c, 2), theta * theta / 2, 1e-12);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllMethods, Tableaus, ::testing::ValuesIn(dd::ode::all_methods()),
                         [](const auto& info) { return dd::ode::method_name(info.param); });

TEST(Methods, NamesRoundTrip) {
  for (auto m : dd::ode::all_methods()) EXPECT_EQ(dd::ode::parse_method(dd::ode::method_name(m)), m);
}

TEST(Methods, UnknownNameListsValidOnes) {
  try {
    dd::ode::parse_method("dopri6");
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("unknown ODE method 'dopri6'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("dopri5"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rk4_38"), std::string::npos) << msg;
  }
}

TEST(Methods, FsalMethodsAreRecognised) {
  EXPECT_TRUE(dd::ode::tableau(Method::Dopri5).fsal());
  EXPECT_TRUE(dd::ode::tableau(Method::Tsit5).fsal());
  EXPECT_TRUE(dd::ode::tableau(Method::Bosh3).fsal());
  EXPECT_TRUE(dd::ode::tableau(Method::Dopri8).fsal());
  EXPECT_TRUE(dd::ode::tableau(Method::Kvaerno3).fsal());
  EXPECT_TRUE(dd::ode::tableau(Method::Kvaerno5).fsal());
  EXPECT_FALSE(dd::ode::tableau(Method::RK4).fsal());
  EXPECT_FALSE(dd::ode::tableau(Method::Fehlberg2).fsal());
}

}  // namespace
