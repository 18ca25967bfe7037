#pragma once
#include <torch/torch.h>

#include <memory>

#include "deepdyn/deq/solver.h"

namespace deepdyn::deq::detail {

/// An iterate and its image: residual g = fz - z. Both are [batch, n] (samples flattened).
struct Iterate {
  torch::Tensor z, fz;
};

/// One fixed-point method: from the current iterate, the next one (and its image under f).
/// The driver in solver.cpp owns stopping, residuals and the best iterate; methods own only
/// their history.
class Iteration {
 public:
  virtual ~Iteration() = default;
  virtual Iterate step(const Iterate& current) = 0;
};

/// f on flattened [batch, n] iterates.
using FlatMap = std::function<torch::Tensor(const torch::Tensor& z)>;

std::unique_ptr<Iteration> make_iteration(const Picard& options, FlatMap f);
std::unique_ptr<Iteration> make_iteration(const Anderson& options, FlatMap f);
std::unique_ptr<Iteration> make_iteration(const Broyden& options, FlatMap f);

/// Per-sample Euclidean norm of [batch, n] rows.
inline torch::Tensor row_norm(const torch::Tensor& x) { return x.norm(2, /*dim=*/1); }

/// Per-sample dot product of [batch, n] rows.
inline torch::Tensor row_dot(const torch::Tensor& x, const torch::Tensor& y) { return (x * y).sum(1); }

}  // namespace deepdyn::deq::detail
