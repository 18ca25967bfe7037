#pragma once
// Test problems with exact solutions, ported from torchdiffeq's tests/problems.py.
#include <deepdyn/deepdyn.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace deepdyn::testing {

struct ExactProblem {
  std::string name;
  ode::Field field;
  /// Exact solution at the given float64 times, shape [len(ts), *state].
  std::function<torch::Tensor(const torch::Tensor& ts)> exact;
};

/// f = a + (y - (a t + b))^5, exact y = a t + b (a = 0.2, b = 3).
inline ExactProblem constant_ode() {
  const double a = 0.2, b = 3.0;
  return {"constant", [=](const torch::Tensor& t, const torch::Tensor& y) { return a + (y - (a * t + b)).pow(5); },
          [=](const torch::Tensor& ts) { return a * ts + b; }};
}

/// f = 2y/t + t^4 sin(2t) - t^2 + 4t^3.
inline ExactProblem sine_ode() {
  return {"sine",
          [](const torch::Tensor& t, const torch::Tensor& y) {
            return 2 * y / t + t.pow(4) * torch::sin(2 * t) - t.pow(2) + 4 * t.pow(3);
          },
          [](const torch::Tensor& t) {
            return -0.5 * t.pow(4) * torch::cos(2 * t) + 0.5 * t.pow(3) * torch::sin(2 * t) +
                   0.25 * t.pow(2) * torch::cos(2 * t) - t.pow(3) + 2 * t.pow(4) + (M_PI - 0.25) * t.pow(2);
          }};
}

/// f = A y with A = U - U^T skew-symmetric (U ~ 0.1 N(0, 1), seeded), exact expm(A t) 1.
inline ExactProblem linear_ode(torch::Dtype dtype, int64_t dim = 10) {
  torch::manual_seed(0);
  auto u = torch::randn({dim, dim}, torch::kFloat64) * 0.1;
  auto a64 = u - u.t();
  auto a = a64.to(dtype);
  return {"linear", [a](const torch::Tensor&, const torch::Tensor& y) { return a.mv(y); },
          [a64, dim](const torch::Tensor& ts) {
            std::vector<torch::Tensor> rows;
            for (int64_t i = 0; i < ts.size(0); ++i)
              rows.push_back(torch::matrix_exp(a64 * ts[i]).mv(torch::ones({dim}, torch::kFloat64)));
            return torch::stack(rows);
          }};
}

/// f = -0.1 exp(-0.1 t), exact exp(-0.1 t): a pure quadrature.
inline ExactProblem exp_ode() {
  return {"exp",
          [](const torch::Tensor& t, const torch::Tensor& y) { return (-0.1 * torch::exp(-0.1 * t)).expand_as(y); },
          [](const torch::Tensor& ts) { return torch::exp(-0.1 * ts); }};
}

inline double max_relative_error(const torch::Tensor& exact, const torch::Tensor& estimate) {
  return ((exact - estimate.to(torch::kFloat64)) / exact).abs().max().item<double>();
}

}  // namespace deepdyn::testing
