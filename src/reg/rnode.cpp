#include "deepdyn/reg/rnode.h"

namespace deepdyn::reg {

void validate(const RNODE& weights) {
  TORCH_CHECK(weights.kinetic() >= 0, "RNODE kinetic weight (lambda_K) must be >= 0, got ", weights.kinetic());
  TORCH_CHECK(weights.jacobian() >= 0, "RNODE Jacobian weight (lambda_J) must be >= 0, got ", weights.jacobian());
}

torch::Tensor penalty(const RNODE& weights, const torch::Tensor& kinetic, const torch::Tensor& jacobian) {
  return weights.kinetic() * kinetic.mean() + weights.jacobian() * jacobian.mean();
}

}  // namespace deepdyn::reg
