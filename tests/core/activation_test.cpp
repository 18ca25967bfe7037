// core::tanh against LibTorch's: values within a few ulp, the same first and second derivatives,
// and every layout and dtype it is given.
#include <deepdyn/core/activation.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace core = deepdyn::core;

namespace {

// The largest |a - b| in units of float32's spacing at |b| (2^-23 |b|, at least the subnormal step).
double ulps(const torch::Tensor& a, const torch::Tensor& b) {
  auto a64 = a.to(torch::kFloat64), b64 = b.to(torch::kFloat64);
  auto spacing = (b64.abs() * std::ldexp(1.0, -23)).clamp_min(std::ldexp(1.0, -149));
  return ((a64 - b64).abs() / spacing).max().item<double>();
}

}  // namespace

TEST(Tanh, Float32IsWithinThreeUlpOfTheCorrectlyRoundedValue) {
  torch::manual_seed(0);
  // Around 0 (where tanh x ~ x), the bend near |x| ~ 1, and saturation past |x| = 9.
  for (auto x : {torch::linspace(-1e-3, 1e-3, 20001), torch::randn({1024, 50}) * 3, torch::linspace(-12, 12, 100001)}) {
    auto exact = torch::tanh(x.to(torch::kFloat64));
    EXPECT_LE(ulps(core::tanh(x), exact), 3.0);
  }
  auto special = torch::tensor({0.0f, -0.0f, INFINITY, -INFINITY, 1e-30f, 20.0f});
  auto expected = torch::tensor({0.0f, -0.0f, 1.0f, -1.0f, 1e-30f, 1.0f});
  EXPECT_TRUE(torch::equal(core::tanh(special), expected)) << core::tanh(special);
  EXPECT_TRUE(torch::isnan(core::tanh(torch::tensor({NAN}))).item<bool>());
}

TEST(Tanh, OtherDtypesLayoutsAndEmptyTensors) {
  auto x64 = torch::randn({7, 5}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(core::tanh(x64), torch::tanh(x64)));
  auto x = torch::randn({6, 8});
  auto transposed = x.t(), strided = x.slice(1, 0, 8, 3);
  EXPECT_LE(ulps(core::tanh(transposed), torch::tanh(transposed.to(torch::kFloat64))), 3.0);
  EXPECT_EQ(core::tanh(transposed).sizes(), transposed.sizes());
  EXPECT_LE(ulps(core::tanh(strided), torch::tanh(strided.to(torch::kFloat64))), 3.0);
  EXPECT_EQ(core::tanh(torch::empty({0, 3})).sizes(), (std::vector<int64_t>{0, 3}));
}

TEST(Tanh, FirstAndSecondDerivativesAreLibTorchs) {
  torch::manual_seed(1);
  auto x = (torch::randn({64, 16}) * 2).requires_grad_();
  auto weights = torch::randn({64, 16});
  auto gradient = [&](auto tanh) {
    auto g = torch::autograd::grad({(tanh(x) * weights).sum()}, {x}, {}, true, true)[0];
    auto second = torch::autograd::grad({(g * g).sum()}, {x})[0];  // through the backward formula
    return std::make_pair(g, second);
  };
  const auto [ours, ours_second] = gradient([](const torch::Tensor& v) { return core::tanh(v); });
  const auto [theirs, theirs_second] = gradient([](const torch::Tensor& v) { return torch::tanh(v); });
  EXPECT_TRUE(torch::allclose(ours, theirs, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(ours_second, theirs_second, 1e-4, 1e-5));
  // Without a graph the result needs none.
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(core::tanh(x).requires_grad());
}
