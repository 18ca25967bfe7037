// The spiral of torchdiffeq's ode_demo: its field, start and true trajectory.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

namespace dd = deepdyn;

TEST(Spiral, FieldIsYCubedTimesA) {
  const auto y = torch::tensor({{2.0, 0.0}, {0.5, -1.0}}, torch::kFloat64);
  // y^3 A with A = [[-0.1, 2], [-2, -0.1]]: [8, 0] -> [-0.8, 16]; [0.125, -1] -> [1.9875, 0.35].
  const auto expected = torch::tensor({{-0.8, 16.0}, {-0.0125 + 2.0, 0.25 + 0.1}}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(dd::data::spiral_field(y), expected, 0, 1e-15));
  EXPECT_TRUE(torch::equal(dd::data::spiral_start(), torch::tensor({{2.0, 0.0}}, torch::kFloat64)));
}

TEST(Spiral, TrajectoryIsWithin1e7OfATightDopri8Solve) {
  const auto ts = torch::linspace(0, 25, 200, torch::kFloat64);
  const auto trajectory = dd::data::spiral_trajectory(ts);
  ASSERT_EQ(trajectory.sizes(), (std::vector<int64_t>{200, 1, 2}));
  auto field = [](const torch::Tensor&, const torch::Tensor& y) { return dd::data::spiral_field(y); };
  const auto reference = dd::ode::solve(field, dd::data::spiral_start(), ts,
                                        dd::ode::SolveOptions().method(dd::ode::Method::Dopri8).rtol(1e-13).atol(1e-14));
  EXPECT_LT((trajectory - reference.ys).abs().max().item<double>(), 1e-7);  // 2.4e-8 measured
  EXPECT_EQ(dd::data::spiral_trajectory(ts.to(torch::kFloat32)).scalar_type(), torch::kFloat32);
}
