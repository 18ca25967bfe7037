// Anderson acceleration in the form of Walker & Ni (2011), batched over samples:
//   alpha = argmin ||G alpha||^2 + lambda ||alpha||^2  s.t.  1^T alpha = 1,   G = [g_1 .. g_k],
// solved through its KKT system [[0, 1^T], [1, G^T G + lambda I]] [nu; alpha] = [1; 0].
// The system is solved by a pseudo-inverse, so a singular Gram matrix (repeated iterates, lambda = 0)
// gives the minimum-norm weights instead of NaN.
#include <limits>

#include "deq/detail/iteration.h"

namespace deepdyn::deq::detail {
namespace {

class AndersonIteration : public Iteration {
 public:
  AndersonIteration(const Anderson& options, FlatMap f) : options_(options), f_(std::move(f)) {}

  Iterate step(const Iterate& current) override {
    remember(current);
    const int64_t k = std::min(count_, options_.memory());
    auto xs = xs_.narrow(1, 0, k);  // [batch, k, n]
    auto fs = fs_.narrow(1, 0, k);
    auto weights = mixing_weights(fs - xs);  // [batch, k]
    auto mixed_f = torch::bmm(weights.unsqueeze(1), fs).squeeze(1);
    auto z = mixed_f;
    if (options_.beta() != 1.0) {
      auto mixed_x = torch::bmm(weights.unsqueeze(1), xs).squeeze(1);
      z = options_.beta() * mixed_f + (1 - options_.beta()) * mixed_x;
    }
    return {z, f_(z)};
  }

 private:
  void remember(const Iterate& current) {
    if (!xs_.defined()) {
      auto shape = std::vector<int64_t>{current.z.size(0), options_.memory(), current.z.size(1)};
      xs_ = torch::zeros(shape, current.z.options());
      fs_ = torch::zeros(shape, current.z.options());
    }
    const int64_t slot = count_ % options_.memory();
    xs_.select(1, slot).copy_(current.z);
    fs_.select(1, slot).copy_(current.fz);
    ++count_;
  }

  torch::Tensor mixing_weights(const torch::Tensor& residuals) const {
    const int64_t batch = residuals.size(0), k = residuals.size(1);
    auto gram = torch::bmm(residuals, residuals.transpose(1, 2));  // [batch, k, k]
    // lambda is relative to the Gram matrix's scale, which shrinks by orders of magnitude on the way
    // to convergence; the tiny floor keeps an all-zero Gram (already converged) well defined.
    auto scale = gram.diagonal(0, 1, 2).mean(1).clamp_min(std::numeric_limits<double>::min());
    auto eye = torch::eye(k, residuals.options());
    auto kkt = torch::zeros({batch, k + 1, k + 1}, residuals.options());
    kkt.narrow(1, 1, k).narrow(2, 1, k).copy_(gram + options_.lambda() * scale.view({batch, 1, 1}) * eye);
    kkt.select(1, 0).narrow(1, 1, k).fill_(1);
    kkt.select(2, 0).narrow(1, 1, k).fill_(1);
    auto rhs = torch::zeros({batch, k + 1, 1}, residuals.options());
    rhs.select(1, 0).fill_(1);
    const double eps = residuals.scalar_type() == torch::kDouble ? std::numeric_limits<double>::epsilon()
                                                                 : std::numeric_limits<float>::epsilon();
    auto solution = torch::matmul(at::linalg_pinv(kkt, /*rcond=*/100 * eps, /*hermitian=*/true), rhs);
    return solution.squeeze(2).narrow(1, 1, k);
  }

  Anderson options_;
  FlatMap f_;
  torch::Tensor xs_, fs_;  // ring buffers of the last `memory` iterates and their images
  int64_t count_ = 0;
};

}  // namespace

std::unique_ptr<Iteration> make_iteration(const Anderson& options, FlatMap f) {
  return std::make_unique<AndersonIteration>(options, std::move(f));
}

}  // namespace deepdyn::deq::detail
