#include "ode/detail/interpolation.h"

#include "ode/detail/runge_kutta.h"

namespace deepdyn::ode::detail {

torch::Tensor StepPolynomial::evaluate(const std::vector<double>& times) const {
  const auto degree = static_cast<int64_t>(coefficients.size());
  const auto& like = coefficients[0];
  // Vandermonde rows [1, x, x^2, ...] times the stacked coefficients: one matmul for every output.
  std::vector<double> powers;
  powers.reserve(times.size() * degree);
  for (double t : times) {
    const double x = (t - t0) / dt;
    double p = 1.0;
    for (int64_t j = 0; j < degree; ++j, p *= x) powers.push_back(p);
  }
  auto vandermonde = torch::tensor(powers, torch::dtype(torch::kFloat64))
                         .view({static_cast<int64_t>(times.size()), degree})
                         .to(like.options());
  auto stacked = torch::stack(coefficients).view({degree, -1});
  auto shape = like.sizes().vec();
  shape.insert(shape.begin(), static_cast<int64_t>(times.size()));
  return vandermonde.mm(stacked).view(shape);
}

StepPolynomial linear_interpolant(double t0, double dt, const torch::Tensor& y0, const torch::Tensor& y1) {
  return {t0, dt, {y0, y1 - y0}};
}

StepPolynomial hermite_interpolant(double t0, double dt, const torch::Tensor& y0, const torch::Tensor& f0,
                                   const torch::Tensor& y1, const torch::Tensor& f1) {
  // p(x) = y0 + x dt f0 + x^2 (3 dy - dt(2 f0 + f1)) + x^3 (dt(f0 + f1) - 2 dy), dy = y1 - y0.
  auto dy = y1 - y0;
  auto g0 = f0 * dt;
  auto g1 = f1 * dt;
  return {t0, dt, {y0, g0, 3 * dy - 2 * g0 - g1, g0 + g1 - 2 * dy}};
}

StepPolynomial continuous_extension(double t0, double dt, const torch::Tensor& y0, const std::vector<torch::Tensor>& k,
                                    const std::vector<std::vector<double>>& b_theta) {
  const size_t degree = b_theta[0].size();
  StepPolynomial p{t0, dt, {}};
  for (size_t j = 0; j < degree; ++j) {
    std::vector<double> weights(k.size());
    for (size_t i = 0; i < k.size(); ++i) weights[i] = b_theta[i][j];
    p.coefficients.push_back(weighted_sum(j == 0 ? y0 : torch::Tensor(), dt, weights, k));
  }
  return p;
}

}  // namespace deepdyn::ode::detail
