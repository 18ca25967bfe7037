#pragma once
// Tensors written to files the way Python's torch.save would, for tests of the file readers.
#include <torch/torch.h>

#include <fstream>
#include <string>

namespace deepdyn::testing {

/// Writes `tensor` to `path` in torch.save's zip format; returns the path.
inline std::string write_pt(const std::string& path, const torch::Tensor& tensor) {
  const auto bytes = torch::pickle_save(tensor);
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

}  // namespace deepdyn::testing
