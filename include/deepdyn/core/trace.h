#pragma once
// How models estimate the trace of a Jacobian (the divergence of a field), shared by the CNF's
// log-density ODE and ODE2VAE's d log q / dt = -tr(df/dv).
#include <torch/torch.h>

#include <string>
#include <vector>

namespace deepdyn::core {

/// How the divergence tr(df/dz) of a log-density ODE is computed.
enum class TraceEstimator {
  Exact,       ///< one derivative per dimension
  Hutchinson,  ///< e^T (df/dz) e with one noise vector per solve (Hutchinson 1989; FFJORD)
};

/// "exact", "hutchinson".
const std::vector<std::string>& trace_estimator_names();
const std::string& trace_estimator_name(TraceEstimator trace);
/// Parses one of trace_estimator_names(); an unknown name is refused with the valid list.
TraceEstimator parse_trace_estimator(const std::string& name);

/// Distribution of Hutchinson's noise vector e (zero mean, identity covariance).
enum class Noise { Gaussian, Rademacher };

/// A noise tensor shaped like `like`.
torch::Tensor draw_noise(Noise noise, const torch::Tensor& like);

}  // namespace deepdyn::core
