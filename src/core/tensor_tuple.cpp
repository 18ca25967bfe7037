#include "deepdyn/core/tensor_tuple.h"

#include <ATen/EmptyTensor.h>
#include <c10/util/strides.h>

#include <algorithm>
#include <cstring>

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
  }
  if (tensors.size() == 1) return tensors[0].reshape(-1);
  const bool recorded =
      torch::GradMode::is_enabled() &&
      std::any_of(tensors.begin(), tensors.end(), [](const torch::Tensor& t) { return t.requires_grad(); });
  const bool copyable =
      tensors[0].device().is_cpu() && std::all_of(tensors.begin(), tensors.end(), [](const torch::Tensor& t) {
        return t.is_contiguous() && !t.is_conj() && !t.is_neg();
      });
  if (recorded || !copyable) {
    for (const auto& t : tensors) flat.push_back(t.reshape(-1));
    return torch::cat(flat);
  }
  // One allocation past the dispatcher and a copy per component: on the small states of a
  // solver's every evaluation, cat's reshapes and dispatch cost more than the bytes.
  int64_t total = 0;
  for (const auto& t : tensors) total += t.numel();
  torch::Tensor out = at::detail::empty_cpu({total}, tensors[0].scalar_type());
  auto* dst = static_cast<char*>(out.data_ptr());
  for (const auto& t : tensors) {
    const auto bytes = static_cast<size_t>(t.numel()) * t.element_size();
    if (bytes > 0) std::memcpy(dst, t.data_ptr(), bytes);
    dst += bytes;
  }
  return out;
}

std::vector<torch::Tensor> unflatten(const torch::Tensor& flat, const TupleLayout& layout) {
  std::vector<torch::Tensor> parts;
  parts.reserve(layout.size());
  int64_t offset = 0;
  // One view per component, not a narrow and a reshape (where autograd records, narrow's backward
  // is the cheaper one).
  if (flat.dim() == 1 && flat.is_contiguous() && !(torch::GradMode::is_enabled() && flat.requires_grad())) {
    for (size_t i = 0; i < layout.size(); ++i) {
      parts.push_back(
          flat.as_strided(layout.shapes[i], c10::contiguous_strides(layout.shapes[i]), flat.storage_offset() + offset));
      offset += layout.numels[i];
    }
    return parts;
  }
  const auto lead = flat.sizes().slice(0, flat.dim() - 1).vec();
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
