#pragma once
// Samples of a density from a file, for fitting a continuous normalizing flow to one's own data.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace deepdyn::data {

/// n points in d dimensions and the dimensions' names.
struct Points {
  torch::Tensor x;                 ///< [n, d] float64
  std::vector<std::string> names;  ///< d names: the CSV header's, or x1..xd
};

/// Points from `path` by its extension: ".csv" with a header naming the d >= 1 columns and one
/// point per row, or ".npy"/".pt" holding a 2-D array [n, d]. Every value must be a finite
/// number and there must be two points or more. A bad file is refused with one line naming the
/// file, the line or row and column, and what was expected.
Points read_points(const std::string& path);

}  // namespace deepdyn::data
