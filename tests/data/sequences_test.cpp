// Sequence data of ODE2VAE: bouncing balls (seeded, conserving ball area, moving) and rotating
// images (exact quarter turns).
#include <deepdyn/data/sequences.h>
#include <gtest/gtest.h>

#include <cmath>

#include "support/error_message.h"

namespace dd = deepdyn;

TEST(BouncingBalls, SeededFramesOfThreeMovingBalls) {
  const auto options = dd::data::BouncingBallsOptions();
  auto a = dd::data::bouncing_balls(6, 1, options);
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{6, 20, 1, 32, 32}));
  EXPECT_TRUE(torch::equal(a, dd::data::bouncing_balls(6, 1, options)));
  EXPECT_FALSE(torch::equal(a, dd::data::bouncing_balls(6, 2, options)));
  EXPECT_GE(a.min().item<float>(), 0);
  EXPECT_LE(a.max().item<float>(), 1);
  // Discs never overlap by more than one sub-step: every frame shows about three discs' area.
  const double area = 3 * M_PI * std::pow(options.radius() * options.size(), 2);
  auto mass = a.sum({2, 3, 4});
  EXPECT_LT((mass / area - 1).abs().max().item<double>(), 0.1);
  // Balls move: consecutive frames differ.
  auto change = (a.narrow(1, 1, 19) - a.narrow(1, 0, 19)).abs().sum({2, 3, 4});
  EXPECT_GT(change.min().item<double>(), 1.0);
}

TEST(BouncingBalls, RefusesImpossibleSettings) {
  auto message = dd::testing::error_message(
      [] { dd::data::bouncing_balls(1, 0, dd::data::BouncingBallsOptions().balls(40).radius(0.2)); });
  EXPECT_NE(message.find("without overlap"), std::string::npos) << message;
  message = dd::testing::error_message([] { dd::data::bouncing_balls(1, 0, dd::data::BouncingBallsOptions().radius(0.6)); });
  EXPECT_NE(message.find("radius"), std::string::npos) << message;
}

TEST(RotatingImages, QuarterTurnsAreExact) {
  auto images = torch::rand({3, 28, 28});
  auto sequences = dd::data::rotating_images(images, 5, 16);
  ASSERT_EQ(sequences.sizes(), (std::vector<int64_t>{3, 16, 1, 28, 28}));
  // Four steps of 22.5 degrees are a quarter turn, always in the same direction.
  for (int64_t k = 0; k < 12; ++k) {
    auto turned = torch::rot90(sequences.select(1, k), 1, {-1, -2});
    EXPECT_LT((sequences.select(1, k + 4) - turned).abs().max().item<float>(), 1e-4) << "frame " << k;
  }
  // Each sequence starts at one of the 16 angles and contains the image itself.
  for (int64_t i = 0; i < 3; ++i) {
    auto distance = (sequences[i] - images[i].unsqueeze(0).unsqueeze(0)).abs().amax({1, 2, 3});
    EXPECT_LT(distance.min().item<float>(), 1e-4) << "sequence " << i;
  }
}
