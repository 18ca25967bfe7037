#pragma once
// The stiff test problems of bench_stiff and tests/ode/stiff_test.cpp (float64 states).
#include <torch/torch.h>

namespace deepdyn::bench {

/// Robertson's chemical kinetics (Robertson 1966; Hairer & Wanner II, §IV.1): rates 0.04, 3e7, 1e4.
inline torch::Tensor robertson(const torch::Tensor& /*t*/, const torch::Tensor& y) {
  auto y1 = y[0], y2 = y[1], y3 = y[2];
  return torch::stack({-0.04 * y1 + 1e4 * y2 * y3, 0.04 * y1 - 1e4 * y2 * y3 - 3e7 * y2 * y2, 3e7 * y2 * y2});
}

/// Van der Pol's oscillator with mu = 1000: y1' = y2, y2' = mu (1 - y1^2) y2 - y1.
inline torch::Tensor van_der_pol(const torch::Tensor& /*t*/, const torch::Tensor& y) {
  return torch::stack({y[1], 1000.0 * (1 - y[0] * y[0]) * y[1] - y[0]});
}

}  // namespace deepdyn::bench
