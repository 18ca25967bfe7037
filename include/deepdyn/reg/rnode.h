#pragma once
#include <torch/torch.h>

namespace deepdyn::reg {

/// RNODE (Finlay, Jacobsen, Nurbekyan & Oberman 2020, "How to train your neural ODE"): the
/// integrals along each trajectory of the kinetic energy ||f||^2 and of the squared Frobenius
/// norm of df/dz, carried as extra ODE states (left out of the step-size error control) and
/// added to the loss as lambda_K E_K + lambda_J E_J. Both favour straight, slowly varying
/// trajectories, which adaptive solvers integrate with fewer steps.
struct RNODE {
  /* implicit */ RNODE(double kinetic = 0.01, double jacobian = 0.01) : kinetic_(kinetic), jacobian_(jacobian) {}
  TORCH_ARG(double, kinetic);   ///< lambda_K
  TORCH_ARG(double, jacobian);  ///< lambda_J

  // (TORCH_ARG leaves the access private.)
 public:
  /// Refuses negative weights with a message.
  void validate() const;
};

/// lambda_K mean(E_K) + lambda_J mean(E_J) over the batch.
torch::Tensor penalty(const RNODE& weights, const torch::Tensor& kinetic, const torch::Tensor& jacobian);

}  // namespace deepdyn::reg
