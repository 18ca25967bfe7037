#include "deepdyn/core/tensor_tuple.h"

namespace deepdyn::core {

TupleLayout TupleLayout::of(const std::vector<torch::Tensor>& tensors) {
  TupleLayout layout;
  for (const auto& t : tensors) {
    layout.numels.push_back(t.numel());
    layout.shapes.push_back(t.sizes().vec());
  }
  return layout;
}

int64_t TupleLayout::total_numel() const {
  int64_t n = 0;
  for (auto k : numels) n += k;
  return n;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& tensors) {
  TORCH_CHECK(!tensors.empty(), "flatten: expected at least one tensor, got an empty tuple");
  std::vector<torch::Tensor> flat;
  flat.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    TORCH_CHECK(tensors[i].scalar_type() == tensors[0].scalar_type(),
                "all components of a state tuple must share one dtype: component 0 is ", tensors[0].scalar_type(),
                ", component ", i, " is ", tensors[i].scalar_type());
    TORCH_CHECK(tensors[i].device() == tensors[0].device(),
                "all components of a state tuple must live on one device: component 0 is on ", tensors[0].device(),
                ", component ", i, " is on ", tensors[i].device());
    flat.push_back(tensors[i].reshape(-1));
  }
  return flat.size() == 1 ? flat[0] : torch::cat(flat);
}

std::vector<torch::Tensor> unflatten(const torch::Tensor& flat, const TupleLayout& layout) {
  std::vector<torch::Tensor> parts;
  parts.reserve(layout.size());
  const auto lead = flat.sizes().slice(0, flat.dim() - 1).vec();
  int64_t offset = 0;
  for (size_t i = 0; i < layout.size(); ++i) {
    auto shape = lead;
    shape.insert(shape.end(), layout.shapes[i].begin(), layout.shapes[i].end());
    parts.push_back(flat.narrow(-1, offset, layout.numels[i]).reshape(shape));
    offset += layout.numels[i];
  }
  return parts;
}

torch::Tensor expand_per_component(const std::vector<double>& values, const TupleLayout& layout,
                                   const torch::TensorOptions& options) {
  TORCH_CHECK(values.size() == layout.size(), "expected one value per state component (", layout.size(), "), got ",
              values.size());
  std::vector<torch::Tensor> parts;
  for (size_t i = 0; i < layout.size(); ++i) parts.push_back(torch::full({layout.numels[i]}, values[i], options));
  return torch::cat(parts);
}

}  // namespace deepdyn::core
