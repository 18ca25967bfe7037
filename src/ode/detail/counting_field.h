#pragma once
#include <ATen/ScalarOps.h>
#include <torch/torch.h>

#include "deepdyn/ode/solve.h"

namespace deepdyn::ode::detail {

/// The field as the integrator calls it: time as a float64 host scalar, handed
/// to the user's field as a 0-d tensor of the state's dtype and device.
class CountingField {
 public:
  CountingField(Field field, torch::TensorOptions time_options)
      : field_(std::move(field)), time_options_(time_options) {}

  torch::Tensor operator()(double t, const torch::Tensor& y) {
    auto dy = field_(time_tensor(t), y);
    if (nfe_++ == 0) check_first_output(dy, y);
    return dy;
  }
  int64_t nfe() const { return nfe_; }

 private:
  // On the CPU past the dispatcher, which costs more than the tensor itself (a small fused
  // field's evaluation takes a few tens of microseconds, every one of them with a time).
  torch::Tensor time_tensor(double t) const {
    if (time_options_.device().is_cpu())
      return at::detail::scalar_tensor_static(t, time_options_.dtype().toScalarType(), at::kCPU);
    return torch::scalar_tensor(t, time_options_);
  }

  // The first evaluation is checked, so a field of the wrong shape or dtype fails with a message
  // instead of deep inside a Runge–Kutta stage.
  static void check_first_output(const torch::Tensor& dy, const torch::Tensor& y) {
    TORCH_CHECK(dy.defined(), "the vector field returned an undefined tensor");
    TORCH_CHECK(dy.sizes() == y.sizes(), "the vector field must return dy/dt of the state's shape ", y.sizes(),
                ", got ", dy.sizes());
    TORCH_CHECK(dy.scalar_type() == y.scalar_type() && dy.device() == y.device(),
                "the vector field must return dy/dt of the state's dtype and device (", y.scalar_type(), " on ",
                y.device(), "), got ", dy.scalar_type(), " on ", dy.device());
  }

  Field field_;
  torch::TensorOptions time_options_;
  int64_t nfe_ = 0;
};

}  // namespace deepdyn::ode::detail
