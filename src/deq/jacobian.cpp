#include "deepdyn/deq/jacobian.h"

#include "deepdyn/core/math.h"

namespace deepdyn::deq {
namespace {

void check_graph(const torch::Tensor& fz, const torch::Tensor& z, const char* what) {
  TORCH_CHECK(z.requires_grad() && fz.requires_grad(), what,
              " needs fz = f(z) computed with grad from a z that requires grad (z.requires_grad_())");
  TORCH_CHECK(fz.sizes() == z.sizes(), what, " needs f(z) of z's shape ", z.sizes(), ", got ", fz.sizes());
  TORCH_CHECK(z.dim() >= 1, what, " needs a batch dimension first");
}

torch::Tensor vector_jacobian(const torch::Tensor& fz, const torch::Tensor& z, const torch::Tensor& v,
                              bool create_graph) {
  return torch::autograd::grad({fz}, {z}, {v}, /*retain_graph=*/true, create_graph)[0];
}

}  // namespace

torch::Tensor jacobian_frobenius(const torch::Tensor& fz, const torch::Tensor& z, int64_t probes, bool create_graph) {
  check_graph(fz, z, "jacobian_frobenius");
  TORCH_CHECK(probes >= 1, "jacobian_frobenius needs probes >= 1, got ", probes);
  auto total = core::squared_row_norm(vector_jacobian(fz, z, torch::randn_like(fz), create_graph));
  for (int64_t p = 1; p < probes; ++p) {
    total = total + core::squared_row_norm(vector_jacobian(fz, z, torch::randn_like(fz), create_graph));
  }
  return total / static_cast<double>(probes);
}

torch::Tensor spectral_radius(const torch::Tensor& fz, const torch::Tensor& z, int64_t iterations) {
  check_graph(fz, z, "spectral_radius");
  TORCH_CHECK(iterations >= 1, "spectral_radius needs iterations >= 1, got ", iterations);
  auto shape = std::vector<int64_t>(z.dim(), 1);
  shape[0] = -1;
  auto normalized = [&](const torch::Tensor& v) {
    auto norm = core::squared_row_norm(v).sqrt();
    return std::make_pair(v / norm.clamp_min(std::numeric_limits<double>::min()).view(shape), norm);
  };
  auto v = normalized(torch::randn_like(fz)).first;
  torch::Tensor radius;
  for (int64_t i = 0; i < iterations; ++i) {
    std::tie(v, radius) = normalized(vector_jacobian(fz, z, v, /*create_graph=*/false));
  }
  return radius;
}

}  // namespace deepdyn::deq
