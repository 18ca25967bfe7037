#include "ode/detail/newton.h"

#include <cmath>

namespace deepdyn::ode::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// x -> (I - h gamma J)^{-1} x with the LU factors of that matrix; its backward applies the
/// transposed inverse. What makes a converged stage differentiable: see StageSolver::solve.
class NewtonCorrection : public torch::autograd::Function<NewtonCorrection> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& lu,
                               const torch::Tensor& pivots) {
    ctx->saved_data["lu"] = lu;
    ctx->saved_data["pivots"] = pivots;
    return at::linalg_lu_solve(lu, pivots, x.reshape({-1, 1})).view_as(x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    const auto lu = ctx->saved_data["lu"].toTensor(), pivots = ctx->saved_data["pivots"].toTensor();
    auto g = at::linalg_lu_solve(lu, pivots, grad[0].reshape({-1, 1}), /*left=*/true, /*adjoint=*/true);
    return {g.view_as(grad[0]), torch::Tensor(), torch::Tensor()};
  }
};

/// LU factors of I - h gamma J; a singular matrix shows up as non-finite Newton steps.
std::pair<torch::Tensor, torch::Tensor> newton_matrix_factors(const torch::Tensor& jacobian, double h_gamma) {
  auto m = torch::eye(jacobian.size(0), jacobian.options()).sub_(jacobian, h_gamma);
  auto [lu, pivots, info] = at::linalg_lu_factor_ex(m);
  return {lu, pivots};
}

}  // namespace

torch::Tensor dense_jacobian(CountingField& f, double t, const torch::Tensor& y) {
  torch::AutoGradMode enable_grad(true);
  auto input = y.detach().requires_grad_(true);
  auto value = f(t, input);
  const auto n = y.numel();
  auto jacobian = torch::zeros({n, n}, y.options());
  if (!value.requires_grad()) return jacobian;  // f does not depend on y
  auto basis = torch::eye(n, y.options());
  for (int64_t i = 0; i < n; ++i) {
    auto row = torch::autograd::grad({value}, {input}, {basis[i].view_as(value)}, /*retain_graph=*/i + 1 < n,
                                     /*create_graph=*/false, /*allow_unused=*/true)[0];
    if (row.defined()) jacobian[i].copy_(row.reshape(-1));
  }
  return jacobian;
}

void StageSolver::start_step(double t, const torch::Tensor& y) {
  step_t_ = t;
  step_y_ = y;
  jacobian_is_fresh_ = false;
}

void StageSolver::refresh_jacobian(CountingField& f) {
  jacobian_ = dense_jacobian(f, step_t_, step_y_);
  ++stats_.jacobians;
  jacobian_is_fresh_ = true;
  factored_h_gamma_ = 0;
}

void StageSolver::factor(double h_gamma) {
  if (h_gamma == factored_h_gamma_) return;
  std::tie(lu_, pivots_) = newton_matrix_factors(jacobian_, h_gamma);
  factored_h_gamma_ = h_gamma;
}

std::optional<torch::Tensor> StageSolver::iterate(CountingField& f, double t, double h_gamma,
                                                  const torch::Tensor& base, torch::Tensor z) {
  // Hairer & Wanner II, §IV.8: with theta the contraction rate, the remaining error after an
  // iteration is about eta ||dz||, eta = theta / (1 - theta); the first iteration has no theta yet
  // and takes the previous stage's eta (eq. IV.8.10 and the text after it).
  double eta = std::pow(std::max(eta_, 1e-16), 0.8), previous = 0;
  for (int64_t k = 0; k < options_.max_iterations(); ++k) {
    auto residual = base.add(f(t, z), h_gamma).sub_(z);
    auto delta = at::linalg_lu_solve(lu_, pivots_, residual.reshape({-1, 1})).view_as(z);
    ++stats_.linear_solves;
    ++stats_.newton_iterations;
    z = z + delta;
    const double norm = error_ratio(delta, z, z, tol_);  // sync: the iteration stops on it
    if (!std::isfinite(norm)) return std::nullopt;
    if (norm == 0) return z;
    if (k > 0) {
      const double theta = norm / previous;
      if (theta >= 1) return std::nullopt;  // diverging
      eta = theta / (1 - theta);
    }
    if (eta * norm <= options_.kappa()) {
      eta_ = eta;
      return z;
    }
    previous = norm;
  }
  return std::nullopt;
}

std::optional<torch::Tensor> StageSolver::solve(CountingField& f, double t, double h_gamma,
                                                const torch::Tensor& base, const torch::Tensor& guess) {
  std::optional<torch::Tensor> z;
  {
    torch::NoGradGuard no_grad;
    if (!jacobian_.defined()) refresh_jacobian(f);
    factor(h_gamma);
    z = iterate(f, t, h_gamma, base.detach(), guess.detach());
    if (!z && !jacobian_is_fresh_) {  // the kept Jacobian may be out of date: one more try with a fresh one
      refresh_jacobian(f);
      factor(h_gamma);
      z = iterate(f, t, h_gamma, base.detach(), guess.detach());
    }
  }
  if (!z || !torch::GradMode::is_enabled()) return z;

  // The derivative of the stage equation z = base + h gamma f(t, z, theta) at its solution z* is
  //   dz = (I - h gamma J(z*))^{-1} (dbase + h gamma f_theta dtheta):
  // it is carried by z* + (I - h gamma J(z*))^{-1} w with w = base + h gamma f(t, z*) - z*, zero in
  // value up to the Newton error, and differentiated with z* held fixed.
  auto f_at_solution = f(t, z->detach());
  if (!base.requires_grad() && !f_at_solution.requires_grad()) return z;
  const auto [lu, pivots] = newton_matrix_factors(dense_jacobian(f, t, *z), h_gamma);
  ++stats_.jacobians;
  ++stats_.linear_solves;
  auto w = base.add(f_at_solution, h_gamma).sub(z->detach());
  return z->detach() + NewtonCorrection::apply(w, lu, pivots);
}

}  // namespace deepdyn::ode::detail
