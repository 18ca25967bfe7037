#pragma once
// The spiral of torchdiffeq's ode_demo, the standard first problem for a Neural ODE:
//   dy/dt = y^3 A,  A = [[-0.1, 2], [-2, -0.1]],  y(0) = [[2, 0]].
#include <torch/torch.h>

namespace deepdyn::data {

/// The true field y^3 A, for y of shape [..., 2] (any floating dtype and device).
torch::Tensor spiral_field(const torch::Tensor& y);

/// The initial state [[2, 0]], shape [1, 2].
torch::Tensor spiral_start(torch::TensorOptions options = torch::kFloat64);

/// The true trajectory y(ts), shape [len(ts), 1, 2], in ts's dtype and device: dopri5 at rtol 1e-9,
/// atol 1e-10, which in float64 is within 1e-7 of the exact flow over [0, 25] (2.4e-8 measured).
torch::Tensor spiral_trajectory(const torch::Tensor& ts);

}  // namespace deepdyn::data
