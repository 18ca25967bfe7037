#include "ode/detail/runge_kutta.h"

#include <ATen/EmptyTensor.h>
#include <c10/util/SmallVector.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "core/detail/cpu_features.h"
#include "ode/detail/step_kernels.h"

namespace deepdyn::ode::detail {

namespace {

// A weighted sum's nonzero weights and their terms, inline up to 16 (dopri8 has 13 stages).
using Alphas = c10::SmallVector<double, 16>;
using Terms = c10::SmallVector<const torch::Tensor*, 16>;

/// base + sum_j alpha_j k_j by the stage_sum kernel where nothing needs a graph and every tensor is
/// a contiguous CPU tensor of one floating dtype and size: one allocation and one pass per term,
/// where LibTorch's operations cost a dispatch each (in a no-grad solve of a small field, most of
/// the solver's own time). The output is allocated past the dispatcher, which costs as much again.
std::optional<torch::Tensor> stage_sum_kernel(const torch::Tensor& base, const Alphas& alphas, const Terms& terms) {
  const auto& first = base.defined() ? base : *terms.front();
  auto fits = [&](const torch::Tensor& x) {
    return x.device().is_cpu() && x.scalar_type() == first.scalar_type() && x.sizes() == first.sizes() &&
           x.is_contiguous() && !(torch::GradMode::is_enabled() && x.requires_grad());
  };
  if (!core::detail::cpu_has_avx2_fma() || !(first.scalar_type() == at::kFloat || first.scalar_type() == at::kDouble))
    return std::nullopt;
  if (!fits(first) || !std::all_of(terms.begin(), terms.end(), [&](const torch::Tensor* k) { return fits(*k); }))
    return std::nullopt;
  torch::Tensor out = at::detail::empty_cpu(first.sizes(), first.scalar_type());
  AT_DISPATCH_FLOATING_TYPES(first.scalar_type(), "weighted_sum", [&] {
    c10::SmallVector<const scalar_t*, 16> data;
    for (const auto* k : terms) data.push_back(k->data_ptr<scalar_t>());
    stage_sum<scalar_t>(base.defined() ? base.data_ptr<scalar_t>() : nullptr, alphas.data(), data.data(),
                        static_cast<int64_t>(data.size()), out.numel(), out.data_ptr<scalar_t>());
  });
  return out;
}

}  // namespace

torch::Tensor weighted_sum(const torch::Tensor& base, double h, const std::vector<double>& weights,
                           const std::vector<torch::Tensor>& k) {
  Alphas alphas;
  Terms terms;
  for (size_t j = 0; j < weights.size(); ++j)
    if (weights[j] != 0.0) alphas.push_back(h * weights[j]), terms.push_back(&k[j]);
  if (terms.empty()) return base.defined() ? base.clone() : torch::zeros_like(k[0]);
  if (auto fused = stage_sum_kernel(base, alphas, terms)) return *fused;
  auto out = base.defined() ? base.add(*terms[0], alphas[0]) : terms[0]->mul(alphas[0]);
  for (size_t j = 1; j < terms.size(); ++j)
    out.add_(*terms[j], alphas[j]);  // `out` is a fresh tensor of this function: in-place is safe for autograd
  return out;
}

double stage_time(const ButcherTableau& tableau, int i, double t, double h, bool left_limit_at_end) {
  if (tableau.c[i] != 1.0) return t + tableau.c[i] * h;
  const double t_end = t + h;
  return left_limit_at_end ? std::nextafter(t_end, t) : t_end;
}

RungeKuttaStep runge_kutta_step(const ButcherTableau& tableau, CountingField& f, double t, double h,
                                const torch::Tensor& y, const torch::Tensor& k0, bool left_limit_at_end,
                                StageSolver* stages) {
  const int n_stages = tableau.stages();
  const double h_gamma = h * tableau.gamma;
  RungeKuttaStep step;
  step.k.reserve(n_stages);
  step.k.push_back(k0);
  if (tableau.implicit()) stages->start_step(t, y);
  torch::Tensor y_stage;
  for (int i = 1; i < n_stages; ++i) {
    y_stage = weighted_sum(y, h, tableau.a[i], step.k);
    const double t_stage = stage_time(tableau, i, t, h, left_limit_at_end);
    if (!tableau.implicit()) {
      step.k.push_back(f(t_stage, y_stage));
      continue;
    }
    // z = base + h gamma f(t_i, z), from the guess that f(t_i, z) equals the previous stage.
    const auto base = y_stage;
    auto z = stages->solve(f, t_stage, h_gamma, base, base.add(step.k.back(), h_gamma));
    if (!z) {
      step.failed = true;
      return step;
    }
    y_stage = *z;
    // k_i = f(t_i, z_i) by the stage equation, without evaluating f (nor amplifying the Newton
    // error by a stiff Jacobian): Hairer & Wanner II, §IV.8.
    step.k.push_back((y_stage - base).div_(h_gamma));
  }
  // For FSAL methods the last stage's input already is y1.
  step.y1 = tableau.fsal() ? y_stage : weighted_sum(y, h, tableau.b, step.k);
  if (tableau.embedded()) {
    torch::NoGradGuard no_grad;  // the estimate only steers the step size: no graph for it
    step.error = weighted_sum(torch::Tensor(), h, tableau.b_error, step.k);
  }
  return step;
}

}  // namespace deepdyn::ode::detail
