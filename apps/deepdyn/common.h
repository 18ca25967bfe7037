#pragma once
// What every subcommand of the deepdyn binary shares: the global options and their effect.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace deepdyn::cli {

struct GlobalOptions {
  int threads = 1;
  uint64_t seed = 0;
  std::string device = "cpu";
  std::vector<std::string> command_line;  ///< argv as given, for relaunching with --nproc
};

/// Applies --threads and --seed, and resolves --device (an error when CUDA is asked for and the
/// LibTorch build or the machine has none).
torch::Device apply(const GlobalOptions& options);

/// Comma-separated numbers ("0.5,-1,2") as a 1-D float64 tensor; `what` names the option in errors.
torch::Tensor parse_numbers(const std::string& text, const std::string& what);

/// Writes values [n, k] atomically: a path ending in .pt gets the float64 tensor (Python's
/// torch.load reads it), any other path a CSV file with the header line.
void write_table(const std::string& path, const torch::Tensor& values, const std::vector<std::string>& header);

/// A time grid: comma-separated increasing or decreasing times, or "start:stop:count" (linspace).
torch::Tensor parse_times(const std::string& text);

}  // namespace deepdyn::cli
