#pragma once
// Seeded randomness of the data layer: every draw of one generator call comes from one CPU
// generator, so a data set is a pure function of its seed.
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

namespace deepdyn::data::detail {

inline const torch::TensorOptions kDouble = torch::TensorOptions().dtype(torch::kFloat64);

// Seeded CPU float64 draws.
class Rng {
 public:
  explicit Rng(uint64_t seed) : generator_(at::detail::createCPUGenerator(seed)) {}
  torch::Tensor normal(at::IntArrayRef size) { return torch::randn(size, generator_, kDouble); }
  torch::Tensor uniform(at::IntArrayRef size) { return torch::rand(size, generator_, kDouble); }
  // Integers in [low, high).
  torch::Tensor integers(int64_t low, int64_t high, at::IntArrayRef size) {
    return torch::randint(low, high, size, generator_, torch::kInt64);
  }
  torch::Tensor shuffle_rows(const torch::Tensor& x) {
    return x.index_select(0, torch::randperm(x.size(0), generator_, torch::kInt64));
  }

 private:
  at::Generator generator_;
};

}  // namespace deepdyn::data::detail
