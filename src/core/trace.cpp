#include "deepdyn/core/trace.h"

#include "deepdyn/core/names.h"

namespace deepdyn::core {
namespace {

const NameTable<TraceEstimator>& trace_estimators() {
  static const NameTable<TraceEstimator> table(
      "trace estimator", {{"exact", TraceEstimator::Exact}, {"hutchinson", TraceEstimator::Hutchinson}});
  return table;
}

}  // namespace

const std::vector<std::string>& trace_estimator_names() { return trace_estimators().names(); }

const std::string& trace_estimator_name(TraceEstimator trace) { return trace_estimators().name_of(trace); }

TraceEstimator parse_trace_estimator(const std::string& name) { return trace_estimators().parse(name); }

torch::Tensor draw_noise(Noise noise, const torch::Tensor& like) {
  if (noise == Noise::Gaussian) return torch::randn_like(like);
  return torch::randint_like(like, 0, 2).mul_(2).sub_(1);  // Rademacher: +-1 with equal odds
}

}  // namespace deepdyn::core
