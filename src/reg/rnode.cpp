#include "deepdyn/reg/rnode.h"

namespace deepdyn::reg {

void RNODE::validate() const {
  TORCH_CHECK(kinetic() >= 0, "RNODE kinetic weight (lambda_K) must be >= 0, got ", kinetic());
  TORCH_CHECK(jacobian() >= 0, "RNODE Jacobian weight (lambda_J) must be >= 0, got ", jacobian());
}

torch::Tensor penalty(const RNODE& weights, const torch::Tensor& kinetic, const torch::Tensor& jacobian) {
  return weights.kinetic() * kinetic.mean() + weights.jacobian() * jacobian.mean();
}

}  // namespace deepdyn::reg
