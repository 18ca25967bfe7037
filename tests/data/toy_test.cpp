// The FFJORD toy densities: shapes, seeding, names, and each density's geometry against ffjord's toy_data.py
// (and scikit-learn's make_moons / make_circles / make_swiss_roll); 8gaussians' log-density and entropy.
#include <deepdyn/data/toy.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iostream>
#include <string>

#include "support/error_message.h"

namespace dd = deepdyn;
using dd::data::Toy;
using dd::testing::error_message;

namespace {

constexpr double kPi = 3.14159265358979323846;

torch::Tensor sample(Toy toy, int64_t n, uint64_t seed = 0) {
  return dd::data::sample_toy(toy, n, seed, torch::kFloat64);
}

torch::Tensor radii(const torch::Tensor& x) { return x.norm(2, 1); }

// The grid [-5, 5]^2 with spacing h, as [m, 2] float64 points.
torch::Tensor grid(double h) {
  const auto axis = torch::arange(-5.0, 5.0 + h / 2, h, torch::kFloat64);
  const auto mesh = torch::meshgrid({axis, axis}, "ij");
  return torch::stack({mesh[0].flatten(), mesh[1].flatten()}, 1);
}

// 8gaussians' per-mode standard deviation, and its entropy when the modes do not overlap.
const double kSigma = 0.5 / 1.414;
const double kSeparatedEntropy = std::log(8.0) + std::log(2 * kPi * std::exp(1.0) * kSigma * kSigma);

}  // namespace

TEST(Toy, EveryToyGivesExactlyNFiniteRows) {
  for (Toy toy : dd::data::all_toys()) {
    for (int64_t n : {1, 2, 3, 1003}) {  // 1003 is divisible by none of the class counts 2, 4, 5.
      const auto x = dd::data::sample_toy(toy, n, 1);
      EXPECT_EQ(x.sizes(), (std::vector<int64_t>{n, 2})) << dd::data::toy_name(toy) << " n=" << n;
      EXPECT_EQ(x.scalar_type(), torch::kFloat32) << dd::data::toy_name(toy);
      EXPECT_TRUE(x.isfinite().all().item<bool>()) << dd::data::toy_name(toy) << " n=" << n;
    }
  }
}

TEST(Toy, SameSeedSameSamplesOtherSeedOtherSamples) {
  for (Toy toy : dd::data::all_toys()) {
    const auto a = sample(toy, 257, 7);
    EXPECT_TRUE(torch::equal(a, sample(toy, 257, 7))) << dd::data::toy_name(toy);
    EXPECT_FALSE(torch::equal(a, sample(toy, 257, 8))) << dd::data::toy_name(toy);
    // The float32 result is the float64 draw converted.
    EXPECT_TRUE(torch::equal(a.to(torch::kFloat32), dd::data::sample_toy(toy, 257, 7))) << dd::data::toy_name(toy);
  }
}

TEST(Toy, RejectsBadArguments) {
  const auto few = error_message([] { dd::data::sample_toy(Toy::Moons, 0, 0); });
  EXPECT_NE(few.find("n >= 1"), std::string::npos) << few;
  EXPECT_NE(few.find("got n = 0"), std::string::npos) << few;
  const auto integer = error_message([] { dd::data::sample_toy(Toy::Moons, 4, 0, torch::kInt64); });
  EXPECT_NE(integer.find("floating dtype"), std::string::npos) << integer;
  const auto shape = error_message([] { dd::data::eight_gaussians_log_density(torch::zeros({4, 3})); });
  EXPECT_NE(shape.find("[..., 2]"), std::string::npos) << shape;
}

TEST(Toy, NamesRoundTripAndUnknownNameListsValidOnes) {
  const std::vector<std::string> expected = {"8gaussians", "checkerboard", "pinwheel", "2spirals",
                                             "moons",      "circles",      "rings",    "swissroll"};
  ASSERT_EQ(dd::data::all_toys().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const Toy toy = dd::data::all_toys()[i];
    EXPECT_EQ(dd::data::toy_name(toy), expected[i]);
    EXPECT_EQ(dd::data::parse_toy(expected[i]), toy);
  }
  const auto message = error_message([] { dd::data::parse_toy("8gaussian"); });
  EXPECT_NE(message.find("'8gaussian'"), std::string::npos) << message;
  for (const auto& name : expected) EXPECT_NE(message.find(name), std::string::npos) << name << " in " << message;
}

TEST(Toy, EightGaussiansIsCenteredWithModesOnACircle) {
  const auto x = sample(Toy::EightGaussians, 20000, 3);
  EXPECT_LT(x.mean(0).abs().max().item<double>(), 0.05);
  // Every point is near one of the 8 means on the circle of radius 4 / 1.414 (5 sigma).
  EXPECT_LT((radii(x) - 4 / 1.414).abs().max().item<double>(), 5.5 * kSigma);
}

TEST(Toy, EightGaussiansLogDensityIntegratesToOneAndGivesTheEntropy) {
  const double h = 0.02;
  const auto points = grid(h);
  const auto log_p = dd::data::eight_gaussians_log_density(points);
  ASSERT_EQ(log_p.sizes(), (std::vector<int64_t>{points.size(0)}));
  const double mass = log_p.exp().sum().item<double>() * h * h;
  EXPECT_NEAR(mass, 1.0, 1e-6);
  // The exact entropy, by quadrature, against the separated-modes value (2.838) and the documented 2.84.
  const double entropy = -(log_p.exp() * log_p).sum().item<double>() * h * h;
  EXPECT_NEAR(entropy, kSeparatedEntropy, 1e-2);
  EXPECT_NEAR(entropy, 2.84, 1e-2);
  EXPECT_NEAR(entropy, 2.832, 1e-3);      // the overlap of neighbouring modes takes 0.006 off the separated value
  EXPECT_LT(entropy, kSeparatedEntropy);  // a mixture's entropy is at most log 8 + a component's
  std::cout << "8gaussians entropy: quadrature " << entropy << ", separated modes " << kSeparatedEntropy << "\n";
  // The Monte-Carlo estimate from the sampler agrees with both: the sampler draws from this density.
  const auto x = sample(Toy::EightGaussians, 200000, 11);
  const double monte_carlo = -dd::data::eight_gaussians_log_density(x).mean().item<double>();
  EXPECT_NEAR(monte_carlo, entropy, 0.02);
  EXPECT_NEAR(monte_carlo, kSeparatedEntropy, 0.02);
  std::cout << "8gaussians entropy: Monte Carlo over 200k samples " << monte_carlo << "\n";
}

TEST(Toy, EightGaussiansLogDensityMatchesTheMixtureFormula) {
  // The mixture written out in scalars, at a mode, at the origin and at points in between.
  const double m = 4 / 1.414, d = 1 / std::sqrt(2.0);
  const std::vector<std::pair<double, double>> directions = {{1, 0}, {-1, 0}, {0, 1},  {0, -1},
                                                             {d, d}, {d, -d}, {-d, d}, {-d, -d}};
  auto reference = [&](double x, double y) {
    double density = 0;
    for (const auto& [cx, cy] : directions) {
      const double squared = std::pow(x - m * cx, 2) + std::pow(y - m * cy, 2);
      density += std::exp(-squared / (2 * kSigma * kSigma)) / (8 * 2 * kPi * kSigma * kSigma);
    }
    return std::log(density);
  };
  const auto points =
      torch::tensor({m, 0.0, 0.0, 0.0, 1.0, 1.5, -2.0, 0.3, m * d, -m * d}, torch::kFloat64).view({5, 2});
  const auto log_p = dd::data::eight_gaussians_log_density(points);
  for (int64_t i = 0; i < 5; ++i) {
    const double x = points[i][0].item<double>(), y = points[i][1].item<double>();
    EXPECT_NEAR(log_p[i].item<double>(), reference(x, y), 1e-9) << "at (" << x << ", " << y << ")";
  }
  // At a mode the neighbours add only ~1e-8 to the single-Gaussian peak.
  EXPECT_NEAR(log_p[0].item<double>(), -std::log(8.0) - std::log(2 * kPi * kSigma * kSigma), 1e-7);
  const auto batch = dd::data::eight_gaussians_log_density(torch::zeros({3, 4, 2}));
  EXPECT_EQ(batch.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(batch.scalar_type(), torch::kFloat32);
}

TEST(Toy, CheckerboardFillsTheBlackSquaresOfTheBoardEvenly) {
  const int64_t n = 16000;
  const auto x = sample(Toy::Checkerboard, n, 5);
  EXPECT_GE(x.min().item<double>(), -4.0);
  EXPECT_LT(x.max().item<double>(), 4.0);
  // Squares of side 2: ffjord's construction keeps floor(x/2) + floor(y/2) even.
  const auto square = (x / 2).floor().to(torch::kInt64);
  EXPECT_TRUE((square.sum(1).remainder(2) == 0).all().item<bool>());
  // The 8 black squares of the 4 x 4 board each hold about n / 8.
  const auto index = (square.select(1, 0) + 2) * 4 + (square.select(1, 1) + 2);
  const auto counts = torch::bincount(index, {}, 16);
  int black = 0;
  for (int64_t i = 0; i < 16; ++i) {
    const int64_t count = counts[i].item<int64_t>();
    if ((i / 4 + i % 4) % 2 == 0) {
      ++black;
      EXPECT_NEAR(count, n / 8, n / 8 * 0.1) << "square " << i;
    } else {
      EXPECT_EQ(count, 0) << "square " << i;
    }
  }
  EXPECT_EQ(black, 8);
}

TEST(Toy, CirclesHaveRadiiThreeAndOneAndAHalfAndAreShuffled) {
  const int64_t n = 10000;
  const auto x = sample(Toy::Circles, n, 2);
  const auto r = radii(x);
  const auto outer = r > 2.25;
  const int64_t n_outer = outer.sum().item<int64_t>();
  EXPECT_NEAR(n_outer, n / 2, n * 0.01);
  EXPECT_NEAR(r.masked_select(outer).mean().item<double>(), 3.0, 0.05);
  EXPECT_NEAR(r.masked_select(~outer).mean().item<double>(), 1.5, 0.05);
  // Shuffled: the first 100 rows hold both circles.
  const int64_t head_outer = outer.slice(0, 0, 100).sum().item<int64_t>();
  EXPECT_GT(head_outer, 20);
  EXPECT_LT(head_outer, 80);
}

TEST(Toy, RingsLieOnFourCirclesInEqualShares) {
  const int64_t n = 8000;
  const auto x = sample(Toy::Rings, n, 4);
  const auto ring_radii = torch::tensor({3.0, 2.25, 1.5, 0.75}, torch::kFloat64);
  const auto distance = (radii(x).unsqueeze(1) - ring_radii).abs();  // [n, 4]
  const auto nearest = distance.min(1);
  EXPECT_LT(std::get<0>(nearest).max().item<double>(), 0.4);  // noise 0.08: 5 sigma
  const auto counts = torch::bincount(std::get<1>(nearest), {}, 4);
  for (int64_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i].item<int64_t>(), n / 4, n * 0.01) << "ring " << i;
}

TEST(Toy, MoonsLieOnTwoInterleavedHalfCircles) {
  const auto x = sample(Toy::Moons, 20000, 6);
  // Upper moon: centre (-1, -0.2), radius 2; lower moon: centre (1, 0.8), radius 2. Mean (0, 0.3).
  const auto mean = x.mean(0);
  EXPECT_NEAR(mean[0].item<double>(), 0.0, 0.03);
  EXPECT_NEAR(mean[1].item<double>(), 0.3, 0.03);
  const auto upper = ((x - torch::tensor({-1.0, -0.2}, torch::kFloat64)).norm(2, 1) - 2).abs();
  const auto lower = ((x - torch::tensor({1.0, 0.8}, torch::kFloat64)).norm(2, 1) - 2).abs();
  const auto off = torch::minimum(upper, lower);  // noise 0.2 per coordinate after the scaling by 2
  EXPECT_GT((off < 0.5).to(torch::kFloat64).mean().item<double>(), 0.97);
  EXPECT_LT(off.max().item<double>(), 1.2);
}

TEST(Toy, PinwheelSpiralsAndSwissRollHaveTheirScales) {
  const auto pinwheel = sample(Toy::Pinwheel, 20000, 9);
  EXPECT_LT(pinwheel.mean(0).abs().max().item<double>(), 0.05);   // 5-fold symmetric
  EXPECT_NEAR(radii(pinwheel).mean().item<double>(), 2.0, 0.05);  // 2 |(1 + 0.3 z, 0.1 z')|

  const auto spirals = sample(Toy::TwoSpirals, 20000, 9);
  EXPECT_LT(spirals.mean(0).abs().max().item<double>(), 0.05);  // the second spiral mirrors the first
  EXPECT_LT(radii(spirals).max().item<double>(), (3 * kPi + 0.75) / 3 + 0.6);

  // |(x, z)| = t / 5 with t uniform on [1.5 pi, 4.5 pi], before noise of 1 / 5.
  const auto roll = sample(Toy::SwissRoll, 20000, 9);
  EXPECT_NEAR(radii(roll).mean().item<double>(), 3 * kPi / 5, 0.04);
  EXPECT_GT(radii(roll).min().item<double>(), 1.5 * kPi / 5 - 1.0);
  EXPECT_LT(radii(roll).max().item<double>(), 4.5 * kPi / 5 + 1.0);
}
