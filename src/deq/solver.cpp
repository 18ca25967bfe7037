// The fixed-point driver shared by every method: residuals, best iterate, stopping and stats.
#include "deepdyn/deq/solver.h"

#include <limits>
#include <optional>
#include <sstream>

#include "deepdyn/core/names.h"
#include "deq/detail/iteration.h"

namespace deepdyn::deq {

namespace {

const core::NameTable<Method>& methods() {
  static const core::NameTable<Method> table("fixed-point method",
                                             {{"picard", Picard{}}, {"anderson", Anderson{}}, {"broyden", Broyden{}}});
  return table;
}

}  // namespace

const std::vector<std::string>& method_names() { return methods().names(); }

const std::string& method_name(const Method& method) { return methods().name_of(method); }

Method parse_method(const std::string& name) { return methods().parse(name); }

namespace {

void validate_method(const Picard& m) {
  TORCH_CHECK(m.damping() > 0 && m.damping() <= 1, "Picard damping must be in (0, 1], got ", m.damping(),
              ": 1 is the plain iteration, smaller values damp it");
}
void validate_method(const Anderson& m) {
  TORCH_CHECK(m.memory() >= 1, "Anderson memory must be >= 1, got ", m.memory());
  TORCH_CHECK(m.lambda() >= 0, "Anderson lambda must be >= 0, got ", m.lambda());
  TORCH_CHECK(m.beta() > 0 && m.beta() <= 1, "Anderson beta must be in (0, 1], got ", m.beta());
}
void validate_method(const Broyden& m) {
  TORCH_CHECK(m.memory() >= 1, "Broyden memory must be >= 1 rank-one updates, got ", m.memory());
}

}  // namespace

void FixedPointOptions::validate() const {
  std::visit([](const auto& m) { validate_method(m); }, method());
  TORCH_CHECK(tol() > 0, "fixed-point tol must be > 0, got ", tol());
  TORCH_CHECK(max_iterations() >= 1, "max_iterations must be >= 1, got ", max_iterations());
  TORCH_CHECK(divergence_ratio() > 1, "divergence_ratio must be > 1, got ", divergence_ratio(),
              ": it is how many times its first residual a sample's residual may grow before the solve stops");
}

namespace {

struct IterateResiduals {
  torch::Tensor absolute, relative, image;  // [batch]: ||f(z) - z||, ||f(z) - z|| / ||f(z)||, ||f(z)||
};

IterateResiduals residuals_of(const detail::Iterate& iterate) {
  auto absolute = detail::row_norm(iterate.fz - iterate.z);
  auto image = detail::row_norm(iterate.fz);
  // The tiny floor keeps f(z) = 0 = z (a fixed point at the origin) at relative residual 0, not NaN.
  auto relative = absolute / image.clamp_min(std::numeric_limits<double>::min());
  return {absolute, relative, image};
}

// Per sample, whether a relative residual fell mostly because ||f(z)|| grew: the absolute residual
// fell less than ||f(z)|| grew, ||f(z) - z|| ||f(z)|| > ||f(z0) - z0|| ||f(z0)||, i.e. less than half of
// the relative residual's fall (in log) came from the absolute one. Near a genuine fixed point ||f(z)||
// settles while the absolute residual keeps falling; on a map without one, z runs off to where f(z) ~ z
// and the absolute residual stalls (f(z) = z + 1 + tanh(z)/2 reaches relative 1e-6 at ||z|| ~ 1e6 with
// ||f(z) - z|| at half its first value). The price: a fixed point farther than ~||f(z0)|| / sqrt(tol)
// from z0 = 0, reached with a relative residual near tol, is taken for a runaway.
torch::Tensor ran_off(const IterateResiduals& current, const IterateResiduals& first) {
  return current.absolute * current.image > first.absolute * first.image;
}

std::string failure_message(core::Termination termination, const FixedPointOptions& options, double worst,
                            bool ran_off) {
  std::ostringstream out;
  out << method_name(options.method()) << " stopped (" << core::termination_name(termination)
      << ") at worst residual " << worst << " > tol " << options.tol() << ": ";
  switch (termination) {
    case core::Termination::MaxSteps:
      out << "raise max_iterations, try another method, or make f more contractive (Jacobian regularization)";
      break;
    case core::Termination::Diverged:
      if (ran_off) {
        out << "a sample's relative residual reached tol mostly because ||f(z)|| grew, its absolute residual "
               "falling less than ||f(z)|| grew: z ran off to where f(z) ~ z, so f probably has no fixed point; if "
               "the fixed point really is that far from z0, start nearer to it or stop on the absolute residual";
      } else {
        out << "f is probably not contractive here; damp the iteration or regularize f's Jacobian";
      }
      break;
    case core::Termination::NonFinite:
      out << "f returned NaN or infinity; the best finite iterate is returned";
      break;
    case core::Termination::Success:
    case core::Termination::StepSizeUnderflow:  // ODE solves only
    case core::Termination::NoConvergence:
      break;
  }
  return out.str();
}

}  // namespace

FixedPointResult solve_fixed_point(const FixedPointMap& f, const torch::Tensor& z0, const FixedPointOptions& options) {
  options.validate();
  TORCH_CHECK(z0.defined() && z0.dim() >= 1 && z0.size(0) >= 1,
              "solve_fixed_point needs z0 with a batch dimension first, got ",
              z0.defined() ? z0.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(z0.is_floating_point(), "z0 must be a floating-point tensor, got ", z0.scalar_type());
  const auto shape = z0.sizes().vec();
  const int64_t batch = z0.size(0);

  core::Stats stats;
  detail::FlatMap flat_f = [&](const torch::Tensor& z) {
    ++stats.nfe;
    auto fz = f(z.view(shape));
    TORCH_CHECK(fz.sizes() == z0.sizes(), "the fixed-point map must return the shape of z ", z0.sizes(), ", got ",
                fz.sizes());
    return fz.reshape({batch, -1});
  };
  auto iteration = std::visit([&](const auto& m) { return detail::make_iteration(m, flat_f); }, options.method());

  const bool relative_stop = options.stop_on() == ResidualNorm::Relative;
  detail::Iterate current{z0.reshape({batch, -1}), flat_f(z0.reshape({batch, -1}))};
  auto first = residuals_of(current);
  std::vector<torch::Tensor> absolute_trace, relative_trace;
  torch::Tensor best_z = current.z, best_absolute = first.absolute, best_relative = first.relative;
  auto metric_of = [&](const IterateResiduals& r) { return relative_stop ? r.relative : r.absolute; };
  auto best_metric = metric_of(first).clone();
  best_metric.masked_fill_(best_metric.isnan(), std::numeric_limits<double>::infinity());

  for (int64_t k = 0;; ++k) {
    auto residuals = k == 0 ? first : residuals_of(current);
    absolute_trace.push_back(residuals.absolute);
    relative_trace.push_back(residuals.relative);
    // Under the relative rule, an iterate that ran off never becomes the best, and reaching tol that way
    // stops the solve as Diverged. (The absolute rule needs no such guard: its tol is a fixed scale.)
    auto metric = metric_of(residuals);
    auto off = relative_stop ? ran_off(residuals, first) : torch::zeros_like(metric, torch::kBool);
    auto reached_tol_by_running_off = ((metric <= options.tol()) & off).any();
    metric = metric.masked_fill(off, std::numeric_limits<double>::infinity());
    if (k > 0) {  // keep, per sample, the iterate with the smallest residual (NaN never wins)
      auto better = metric < best_metric;
      auto rows = better.unsqueeze(1);
      best_z = torch::where(rows, current.z, best_z);
      best_absolute = torch::where(better, residuals.absolute, best_absolute);
      best_relative = torch::where(better, residuals.relative, best_relative);
      best_metric = torch::where(better, metric, best_metric);
    }
    // Host synchronisation: one transfer of four flags decides whether to go on.
    auto flags = torch::stack({(best_metric <= options.tol()).all(), residuals.absolute.isfinite().all(),
                               (residuals.absolute <= options.divergence_ratio() * first.absolute).all(),
                               reached_tol_by_running_off})
                     .cpu();
    auto flag = flags.accessor<bool, 1>();
    std::optional<core::Termination> stop;
    if (flag[0]) {
      stop = core::Termination::Success;
    } else if (!flag[1]) {
      stop = core::Termination::NonFinite;
    } else if (!flag[2] || flag[3]) {
      stop = core::Termination::Diverged;
    } else if (k == options.max_iterations()) {
      stop = core::Termination::MaxSteps;
    }
    if (stop) {
      stats.steps = stats.accepted = k;
      stats.termination = *stop;
      if (*stop != core::Termination::Success) {
        stats.message = failure_message(*stop, options, best_metric.max().item<double>(), flag[3]);
        if (options.throw_on_failure()) throw core::SolverError(*stop, stats.message);
      }
      break;
    }
    current = iteration->step(current);
  }
  return {best_z.view(shape), std::move(stats),
          {best_absolute, best_relative, torch::stack(absolute_trace), torch::stack(relative_trace)}};
}

}  // namespace deepdyn::deq
