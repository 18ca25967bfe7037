#pragma once
// Central finite differences, O(h^2), the ground truth of the gradient tests.
#include <torch/torch.h>

#include <functional>

namespace deepdyn::testing {

/// (f(h) - f(-h)) / 2h for a scalar function of an offset: the derivative at 0 of f along
/// whatever the offset moves (f must leave its inputs as it found them).
inline double central_difference(const std::function<double(double)>& f_of_offset, double h) {
  return (f_of_offset(h) - f_of_offset(-h)) / (2 * h);
}

/// The gradient of the scalar f() with respect to every element of x, which is moved in place,
/// one element at a time, and restored exactly.
inline torch::Tensor numeric_gradient(torch::Tensor x, double h, const std::function<double()>& f) {
  torch::NoGradGuard no_grad;
  auto gradient = torch::zeros_like(x);
  auto flat = x.view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    auto element = flat[i];
    const auto saved = element.clone();
    gradient.view(-1)[i] = central_difference(
        [&](double offset) {
          element.copy_(saved + offset);
          const double value = f();
          element.copy_(saved);  // exactly as it was, not x + h - h
          return value;
        },
        h);
  }
  return gradient;
}

/// The Jacobian of f at x over x's last dimension (every row of x moved at once):
/// [..., n] -> [f's shape..., n], column j = (f(x + h e_j) - f(x - h e_j)) / 2h.
inline torch::Tensor numeric_jacobian(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                                      const torch::Tensor& x, double h) {
  const int64_t n = x.size(-1);
  std::vector<torch::Tensor> columns;
  for (int64_t j = 0; j < n; ++j) {
    auto e = torch::zeros({n}, x.options());
    e[j] = h;
    columns.push_back((f(x + e) - f(x - e)) / (2 * h));
  }
  return torch::stack(columns, -1);
}

}  // namespace deepdyn::testing
