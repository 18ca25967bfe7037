#pragma once
// Numeric arrays from files that Python writes: NumPy's .npy (numpy.save) and PyTorch's .pt
// (torch.save of one tensor), for training on one's own data.
#include <torch/torch.h>

#include <string>

namespace deepdyn::io {

/// The array in `path`, by its extension: ".npy" (format versions 1-3, little-endian or
/// byte-order-free float16/32/64, signed and unsigned integers of 1-8 bytes and bool, C or Fortran
/// order) or ".pt" (a tensor saved by torch.save or deepdyn). A missing file, another
/// extension, a damaged file or an unsupported element type is refused with one line naming
/// the file and what was expected.
torch::Tensor read_array(const std::string& path);

/// Writes `array` (moved to the CPU) to `path` as a version-1 .npy file, atomically.
void write_npy(const std::string& path, const torch::Tensor& array);

/// True when `path` ends with `extension` (".csv", ".npy", ...), compared without case.
bool has_extension(const std::string& path, const std::string& extension);

}  // namespace deepdyn::io
