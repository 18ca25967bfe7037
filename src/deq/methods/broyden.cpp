// Broyden's "good" method for g(z) = f(z) - z = 0 (Broyden 1965), the seed's update of the inverse
// Jacobian B ~ J_g^{-1}:
//   B+ = B + (dz - B dg) dz^T B / (dz^T B dg),   dz = z+ - z,  dg = g+ - g,   B_0 = -I.
// B is never formed: B = -I + U V^T with one column of U and V per update (Bai et al. 2019 keep the
// same form), so B x and x^T B cost two [batch, n, memory] products. When `memory` updates are
// stored, the oldest column is overwritten.
#include "deq/detail/iteration.h"

namespace deepdyn::deq::detail {
namespace {

constexpr double kArmijo = 1e-4;      // sufficient decrease of ||g||^2 (Nocedal & Wright, eq. 3.4)
constexpr int kMaxBacktracks = 5;     // step halvings tried before the best trial is taken
constexpr double kMinCosine = 1e-12;  // smallest |dz^T B dg| / (|dz| |B dg|) of an update

class BroydenIteration : public Iteration {
 public:
  BroydenIteration(const Broyden& options, FlatMap f) : options_(options), f_(std::move(f)) {}

  Iterate step(const Iterate& current) override {
    auto g = current.fz - current.z;
    if (previous_z_.defined()) update(current.z - previous_z_, g - previous_g_);
    previous_z_ = current.z;
    previous_g_ = g;
    auto newton = -apply(g);  // -B g
    return options_.line_search() ? search_line(current.z, newton, g) : take(current.z + newton);
  }

 private:
  Iterate take(const torch::Tensor& z) { return {z, f_(z)}; }

  // B x = -x + U (V^T x), batched.
  torch::Tensor apply(const torch::Tensor& x) const {
    if (stored_ == 0) return -x;
    auto u = us_.narrow(2, 0, stored_), v = vs_.narrow(2, 0, stored_);
    return -x + torch::bmm(u, torch::bmm(v.transpose(1, 2), x.unsqueeze(2))).squeeze(2);
  }

  // x^T B = -x^T + (x^T U) V^T, batched.
  torch::Tensor apply_transposed(const torch::Tensor& x) const {
    if (stored_ == 0) return -x;
    auto u = us_.narrow(2, 0, stored_), v = vs_.narrow(2, 0, stored_);
    return -x + torch::bmm(torch::bmm(x.unsqueeze(1), u), v.transpose(1, 2)).squeeze(1);
  }

  void update(const torch::Tensor& dz, const torch::Tensor& dg) {
    if (!us_.defined()) {
      us_ = torch::zeros({dz.size(0), dz.size(1), options_.memory()}, dz.options());
      vs_ = torch::zeros_like(us_);
    }
    auto b_dg = apply(dg);
    auto dz_b = apply_transposed(dz);
    auto denominator = row_dot(dz_b, dg).unsqueeze(1);
    // dz^T B dg near zero relative to |dz| |B dg| (a converged sample, or a step orthogonal to the
    // model's prediction) would blow the update up: such samples keep their B.
    auto scale = (row_norm(dz) * row_norm(b_dg)).unsqueeze(1);
    auto usable = denominator.abs() > kMinCosine * scale;
    auto safe_denominator = torch::where(usable, denominator, torch::ones_like(denominator));
    auto u = torch::where(usable, (dz - b_dg) / safe_denominator, torch::zeros_like(dz));
    const int64_t slot = updates_ % options_.memory();
    us_.select(2, slot).copy_(u);
    vs_.select(2, slot).copy_(dz_b);
    ++updates_;
    stored_ = std::min(updates_, options_.memory());
  }

  // Backtracking on phi(a) = ||g(z + a p)||^2, per sample: a sample keeps the first step length
  // with phi(a) <= (1 - 2 c a) phi(0) (the Armijo condition for a Newton direction); one that
  // finds none takes its best trial.
  Iterate search_line(const torch::Tensor& z, const torch::Tensor& direction, const torch::Tensor& g) {
    auto phi0 = row_dot(g, g);
    auto best = take(z + direction);
    auto best_phi = residual_squared(best);
    auto accepted = best_phi <= (1 - 2 * kArmijo) * phi0;
    double length = 1.0;
    // Host synchronisation: whether any sample still needs a shorter step decides another f call.
    for (int trial = 0; trial < kMaxBacktracks && !accepted.all().item<bool>(); ++trial) {
      length /= 2;
      auto keep = accepted.unsqueeze(1);
      auto candidate = take(torch::where(keep, best.z, z + length * direction));
      auto phi = residual_squared(candidate);
      auto better = (phi < best_phi).logical_and(accepted.logical_not()).unsqueeze(1);
      best = {torch::where(better, candidate.z, best.z), torch::where(better, candidate.fz, best.fz)};
      best_phi = torch::where(better.squeeze(1), phi, best_phi);
      accepted = accepted.logical_or(phi <= (1 - 2 * kArmijo * length) * phi0);
    }
    return best;
  }

  static torch::Tensor residual_squared(const Iterate& iterate) {
    auto g = iterate.fz - iterate.z;
    return row_dot(g, g);
  }

  Broyden options_;
  FlatMap f_;
  torch::Tensor us_, vs_;  // [batch, n, memory]
  int64_t updates_ = 0, stored_ = 0;
  torch::Tensor previous_z_, previous_g_;
};

}  // namespace

std::unique_ptr<Iteration> make_iteration(const Broyden& options, FlatMap f) {
  return std::make_unique<BroydenIteration>(options, std::move(f));
}

}  // namespace deepdyn::deq::detail
