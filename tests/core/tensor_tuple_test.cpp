// core/tensor_tuple.h: flatten copies past the dispatcher where nothing is recorded, and unflatten
// gives views; both must agree with cat and narrow, and keep autograd where it records.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

namespace dd = deepdyn;

TEST(TensorTuple, FlattenIsCatOfTheComponentsAndUnflattenItsViews) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    const std::vector<torch::Tensor> parts = {torch::randn({3, 4}, dtype), torch::randn({}, dtype),
                                              torch::randn({5}, dtype), torch::randn({4, 3}, dtype).t()};
    const auto expected =
        torch::cat({parts[0].reshape(-1), parts[1].reshape(-1), parts[2].reshape(-1), parts[3].reshape(-1)});
    // The last component is strided: LibTorch's cat. Without it: the copies.
    for (const size_t count : {parts.size(), parts.size() - 1}) {
      const std::vector<torch::Tensor> some(parts.begin(), parts.begin() + count);
      const auto flat = dd::core::flatten(some);
      ASSERT_EQ(flat.dim(), 1);
      EXPECT_TRUE(torch::equal(flat, expected.narrow(0, 0, flat.numel()))) << count << " components";
      const auto back = dd::core::unflatten(flat, dd::core::TupleLayout::of(some));
      for (size_t i = 0; i < count; ++i) {
        EXPECT_EQ(back[i].sizes(), some[i].sizes());
        EXPECT_TRUE(torch::equal(back[i], some[i])) << "component " << i;
      }
      back[2].fill_(7);  // views of flat
      EXPECT_TRUE(torch::equal(flat.narrow(0, 13, 5), torch::full({5}, 7, dtype)));
    }
    // Leading dimensions are kept.
    const auto rows = torch::randn({2, 18}, dtype);
    const auto split = dd::core::unflatten(rows, dd::core::TupleLayout::of({parts[0], parts[1], parts[2]}));
    EXPECT_EQ(split[0].sizes(), (std::vector<int64_t>{2, 3, 4}));
    EXPECT_EQ(split[1].sizes(), (std::vector<int64_t>{2}));
    EXPECT_TRUE(torch::equal(split[2], rows.narrow(1, 13, 5)));
  }
}

TEST(TensorTuple, FlattenAndUnflattenKeepTheGraphWhereAutogradRecords) {
  const auto a = torch::randn({2, 3}, torch::kFloat64).requires_grad_();
  const auto b = torch::randn({4}, torch::kFloat64).requires_grad_();
  const auto flat = dd::core::flatten({a, b});
  ASSERT_TRUE(flat.requires_grad());
  const auto weights = torch::arange(10, torch::kFloat64);
  const auto grads = torch::autograd::grad({(flat * weights).sum()}, {a, b});
  EXPECT_TRUE(torch::equal(grads[0], weights.narrow(0, 0, 6).view({2, 3})));
  EXPECT_TRUE(torch::equal(grads[1], weights.narrow(0, 6, 4)));
  const auto x = torch::randn({10}, torch::kFloat64).requires_grad_();
  const auto parts = dd::core::unflatten(x, dd::core::TupleLayout::of({a, b}));
  const auto gx = torch::autograd::grad({parts[0].sum() * 2 + parts[1].sum() * 3}, {x})[0];
  EXPECT_TRUE(
      torch::equal(gx, torch::cat({torch::full({6}, 2.0, torch::kFloat64), torch::full({4}, 3.0, torch::kFloat64)})));
}
