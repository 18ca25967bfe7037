// Anderson acceleration in the unconstrained "differences" form that Walker & Ni (2011) recommend
// for implementation, batched over samples. With g = f(z) - z and the columns of dZ, dG the differences of
// consecutive iterates and residuals (the last memory - 1 of them):
//   gamma = argmin ||g_k - dG gamma||^2 + mu^2 ||gamma||^2,   z+ = z_k + beta g_k - (dZ + beta dG) gamma,
// the header's constrained mix with weights alpha = differences of (0, gamma, 1).
//
// Why not the constrained form (TorchDEQ's anderson: the KKT system [[0, 1^T], [1, G^T G + lambda I]]):
// its constraint entries are 1 while its Gram entries are |g|^2, so a pseudo-inverse cut off relative
// to the largest singular value drops the Gram once |g|^2 < ~100 eps; the weights then go uniform,
// mixing old iterates back in, and the iteration stalls at tight tolerances. The
// differences form has no fixed-scale entries.
//
// Tikhonov: mu^2 = lambda x the mean squared column of dG, which pulls gamma toward 0, the plain
// fixed-point step. A pseudo-inverse keeps a singular Gram (repeated iterates, lambda = 0) finite.
// Safeguard (restart, as in Henderson & Varadhan 2019; the fallback to the plain step of Zhang,
// O'Donoghue & Boyd 2020): a sample whose residual grew over its last step forgets its history, so
// its next step is the beta-damped fixed-point step z + beta g.
#include <limits>

#include "deq/detail/iteration.h"

namespace deepdyn::deq::detail {
namespace {

class AndersonIteration : public Iteration {
 public:
  AndersonIteration(const Anderson& options, FlatMap f)
      : options_(options), depth_(options.memory() - 1), f_(std::move(f)) {}

  Iterate step(const Iterate& current) override {
    auto g = current.fz - current.z;
    const double beta = options_.beta();
    auto z = current.z + beta * g;
    if (depth_ > 0) {  // memory 1 keeps no differences: the plain (damped) step
      remember(current.z, g);
      auto gamma = least_squares(g);  // [batch, depth]
      z = z - (gamma.unsqueeze(2) * (dz_ + beta * dg_)).sum(1);
    }
    return {z, f_(z)};
  }

 private:
  // Stores z_k - z_{k-1} and g_k - g_{k-1} in the oldest slot and updates the Gram matrix dG dG^T
  // in that slot's row and column, then clears the history of every sample whose residual grew
  // (the safeguard above). Products of [batch, depth, n] by a broadcast row, not batched GEMMs:
  // BLAS would be called once per sample on a depth x n block.
  void remember(const torch::Tensor& z, const torch::Tensor& g) {
    if (!dz_.defined()) {
      dz_ = torch::zeros({z.size(0), depth_, z.size(1)}, z.options());
      dg_ = torch::zeros_like(dz_);
      gram_ = torch::zeros({z.size(0), depth_, depth_}, z.options());
    } else {
      const int64_t slot = count_++ % depth_;
      dz_.select(1, slot).copy_(z - previous_z_);
      auto latest = dg_.select(1, slot);
      latest.copy_(g - previous_g_);
      const auto row = (dg_ * latest.unsqueeze(1)).sum(2);  // [batch, depth]
      gram_.select(1, slot).copy_(row);
      gram_.select(2, slot).copy_(row);
      auto kept = (row_norm(g) <= row_norm(previous_g_)).to(z.scalar_type()).view({-1, 1, 1});
      dz_.mul_(kept);
      dg_.mul_(kept);
      gram_.mul_(kept);
    }
    previous_z_ = z;
    previous_g_ = g;
  }

  // gamma = (dG dG^T + mu^2 I)^-1 dG g per sample, mu^2 = lambda mean(diag dG dG^T). With lambda > 0
  // the matrix is positive definite wherever a slot is in use (unused or cleared slots are zero
  // rows of dG and get gamma = 0), and a sample with no slot in use solves I gamma = 0: one LU solve
  // per sample. lambda = 0 leaves it singular once the differences outnumber the state's
  // dimensions: then the pseudo-inverse.
  torch::Tensor least_squares(const torch::Tensor& g) const {
    auto projection = (dg_ * g.unsqueeze(1)).sum(2, /*keepdim=*/false).unsqueeze(2);  // dG^T g, [batch, depth, 1]
    if (options_.lambda() > 0) {
      auto mu2 = options_.lambda() * gram_.diagonal(0, 1, 2).mean(1);
      auto gram = gram_.clone();
      gram.diagonal(0, 1, 2).add_(torch::where(mu2 > 0, mu2, torch::ones_like(mu2)).unsqueeze(1));
      return at::linalg_solve(gram, projection).squeeze(2);
    }
    const double eps = g.scalar_type() == torch::kDouble ? std::numeric_limits<double>::epsilon()
                                                         : std::numeric_limits<float>::epsilon();
    return torch::matmul(at::linalg_pinv(gram_, /*rcond=*/100 * eps, /*hermitian=*/true), projection).squeeze(2);
  }

  Anderson options_;
  int64_t depth_;  // differences kept: memory - 1
  FlatMap f_;
  torch::Tensor dz_, dg_;  // [batch, depth, n] ring buffers of differences (zero where unused)
  torch::Tensor gram_;     // [batch, depth, depth]: dG dG^T, kept up to date slot by slot
  torch::Tensor previous_z_, previous_g_;
  int64_t count_ = 0;
};

}  // namespace

std::unique_ptr<Iteration> make_iteration(const Anderson& options, FlatMap f) {
  return std::make_unique<AndersonIteration>(options, std::move(f));
}

}  // namespace deepdyn::deq::detail
