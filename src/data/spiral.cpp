#include "deepdyn/data/spiral.h"

#include "deepdyn/ode/solve.h"

namespace deepdyn::data {

torch::Tensor spiral_field(const torch::Tensor& y) {
  const auto a = torch::tensor({{-0.1, 2.0}, {-2.0, -0.1}}, y.options());
  return y.pow(3).matmul(a);
}

torch::Tensor spiral_start(torch::TensorOptions options) { return torch::tensor({{2.0, 0.0}}, options); }

torch::Tensor spiral_trajectory(const torch::Tensor& ts) {
  TORCH_CHECK(ts.dim() == 1 && ts.is_floating_point(), "spiral_trajectory needs a 1-D floating tensor of times, got ",
              ts.sizes(), " of ", ts.scalar_type());
  auto field = [](const torch::Tensor&, const torch::Tensor& y) { return spiral_field(y); };
  return ode::solve(field, spiral_start(ts.options()), ts, ode::SolveOptions().rtol(1e-9).atol(1e-10)).ys;
}

}  // namespace deepdyn::data
