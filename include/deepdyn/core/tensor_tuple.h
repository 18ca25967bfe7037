#pragma once
// Flattening of tensor tuples at API boundaries: solvers work on one flat
// tensor, users may hand in several tensors (a CNF state is [z, delta_logp, ...]).
#include <torch/torch.h>

#include <vector>

namespace deepdyn::core {

/// Shapes of the components of a tensor tuple, enough to undo `flatten`.
struct TupleLayout {
  std::vector<int64_t> numels;
  std::vector<std::vector<int64_t>> shapes;

  static TupleLayout of(const std::vector<torch::Tensor>& tensors);
  int64_t total_numel() const;
  size_t size() const { return shapes.size(); }
};

/// Concatenates the components, each flattened, into one 1-D tensor.
/// All components must share dtype and device.
torch::Tensor flatten(const std::vector<torch::Tensor>& tensors);

/// Views into `flat` (1-D, or [..., total] with leading dims kept) shaped like the layout's components.
std::vector<torch::Tensor> unflatten(const torch::Tensor& flat, const TupleLayout& layout);

/// A 1-D tensor of `layout.total_numel()` entries, component i filled with values[i].
torch::Tensor expand_per_component(const std::vector<double>& values, const TupleLayout& layout,
                                   const torch::TensorOptions& options);

}  // namespace deepdyn::core
