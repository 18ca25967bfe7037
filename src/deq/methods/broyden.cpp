// Broyden's "good" method for g(z) = f(z) - z = 0 (Broyden 1965), the seed's update of the inverse
// Jacobian B ~ J_g^{-1}:
//   B+ = B + (dz - B dg) dz^T B / (dz^T B dg),   dz = z+ - z,  dg = g+ - g,   B_0 = -I.
// B is never formed: B = -I + U V^T with one column of U and V per update (Bai et al. 2019 keep the
// same form), so B x and x^T B cost two products with the stored columns. When `memory` updates
// are stored, the oldest column is overwritten.
#include "deq/detail/iteration.h"

namespace deepdyn::deq::detail {
namespace {

/// y = -x + sum_{j < k} a_j (b_j . x) per sample s, for rows a_j, b_j of a, b [batch, memory, n]
/// and x, y [batch, n], all contiguous: per sample k dot products and k AXPYs over contiguous rows.
/// (As batched GEMMs of one column each, LibTorch's bmm took 6x the time at k = 9.)
template <class T>
void low_rank_minus_identity(const T* a, const T* b, int64_t memory, int64_t k, const T* x, T* y, int64_t batch,
                             int64_t n) {
  constexpr int64_t kLanes = 8;  // partial sums the compiler keeps in one vector register
  for (int64_t s = 0; s < batch; ++s) {
    const T *xs = x + s * n, *as = a + s * memory * n, *bs = b + s * memory * n;
    T* ys = y + s * n;
    for (int64_t i = 0; i < n; ++i) ys[i] = -xs[i];
    for (int64_t j = 0; j < k; ++j) {
      const T *aj = as + j * n, *bj = bs + j * n;
      T partial[kLanes] = {};
      int64_t i = 0;
      for (; i + kLanes <= n; i += kLanes)
        for (int64_t l = 0; l < kLanes; ++l) partial[l] += bj[i + l] * xs[i + l];
      T dot = 0;
      for (int64_t l = 0; l < kLanes; ++l) dot += partial[l];
      for (; i < n; ++i) dot += bj[i] * xs[i];
      for (i = 0; i < n; ++i) ys[i] += dot * aj[i];
    }
  }
}

/// -x + sum_{j < k} a_j (b_j . x) per sample (see low_rank_minus_identity): the loop on contiguous
/// CPU float32/float64, batched products elsewhere (GPU).
torch::Tensor low_rank_minus_identity(const torch::Tensor& a, const torch::Tensor& b, int64_t k,
                                      const torch::Tensor& x_any) {
  const auto x = x_any.contiguous();  // (a and b are the iteration's own contiguous buffers)
  const bool loop = x.device().is_cpu() && (x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64);
  if (!loop) {
    auto dots = torch::bmm(b.narrow(1, 0, k), x.unsqueeze(2));  // [batch, k, 1]
    return -x + torch::bmm(dots.transpose(1, 2), a.narrow(1, 0, k)).squeeze(1);
  }
  auto y = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "deq::broyden", [&] {
    low_rank_minus_identity<scalar_t>(a.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), a.size(1), k,
                                      x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), x.size(0), x.size(1));
  });
  return y;
}

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

  // B x = -x + U (V^T x).
  torch::Tensor apply(const torch::Tensor& x) const {
    return stored_ == 0 ? -x : low_rank_minus_identity(us_, vs_, stored_, x);
  }

  // x^T B = -x^T + (x^T U) V^T.
  torch::Tensor apply_transposed(const torch::Tensor& x) const {
    return stored_ == 0 ? -x : low_rank_minus_identity(vs_, us_, stored_, x);
  }

  void update(const torch::Tensor& dz, const torch::Tensor& dg) {
    if (!us_.defined()) {  // rows are read only once written (the first stored_)
      us_ = torch::empty({dz.size(0), options_.memory(), dz.size(1)}, dz.options());
      vs_ = torch::empty_like(us_);
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
    us_.select(1, slot).copy_(u);
    vs_.select(1, slot).copy_(dz_b);
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
  torch::Tensor us_, vs_;  // [batch, memory, n]: row j of sample s is its u_j (v_j)
  int64_t updates_ = 0, stored_ = 0;
  torch::Tensor previous_z_, previous_g_;
};

}  // namespace

std::unique_ptr<Iteration> make_iteration(const Broyden& options, FlatMap f) {
  return std::make_unique<BroydenIteration>(options, std::move(f));
}

}  // namespace deepdyn::deq::detail
