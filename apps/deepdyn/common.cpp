#include "common.h"

#include <deepdyn/io/files.h>

#include <sstream>

namespace deepdyn::cli {

torch::Device apply(const GlobalOptions& options) {
  TORCH_CHECK(options.threads >= 1, "--threads must be >= 1, got ", options.threads);
  torch::set_num_threads(options.threads);
  torch::manual_seed(options.seed);
  if (options.device == "cpu") return torch::kCPU;
  TORCH_CHECK(options.device == "cuda", "--device must be cpu or cuda, got '", options.device, "'");
  TORCH_CHECK(torch::cuda::is_available(),
              "--device cuda was asked for, but this LibTorch build has no CUDA support or sees no GPU; "
              "use --device cpu, or build against a CUDA LibTorch given through Torch_DIR");
  return torch::kCUDA;
}

torch::Tensor parse_numbers(const std::string& text, const std::string& what) {
  std::vector<double> values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    size_t used = 0;
    double value = 0;
    try {
      value = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TORCH_CHECK(used > 0 && item.find_first_not_of(" \t", used) == std::string::npos, what, ": '", item,
                "' is not a number (expected comma-separated numbers such as 0.5,-1,2)");
    values.push_back(value);
  }
  TORCH_CHECK(!values.empty(), what, ": no numbers given (expected comma-separated numbers such as 0.5,-1,2)");
  return torch::tensor(values, torch::kFloat64);
}

void write_table(const std::string& path, const torch::Tensor& values, const std::vector<std::string>& header) {
  auto rows = values.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  TORCH_CHECK(rows.dim() == 2 && rows.size(1) == int64_t(header.size()), "write_table: ", header.size(),
              " columns named, values of shape ", rows.sizes());
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".pt") == 0) {
    const auto pickled = torch::pickle_save(rows);
    io::write_file_atomically(path, std::vector<uint8_t>(pickled.begin(), pickled.end()));
    return;
  }
  std::ostringstream out;
  out.precision(17);
  for (size_t j = 0; j < header.size(); ++j) out << (j ? "," : "") << header[j];
  out << "\n";
  auto r = rows.accessor<double, 2>();
  for (int64_t i = 0; i < rows.size(0); ++i) {
    for (int64_t j = 0; j < rows.size(1); ++j) out << (j ? "," : "") << r[i][j];
    out << "\n";
  }
  const auto text = out.str();
  io::write_file_atomically(path, std::vector<uint8_t>(text.begin(), text.end()));
}

torch::Tensor parse_times(const std::string& text) {
  if (text.find(':') == std::string::npos) return parse_numbers(text, "--t");
  std::stringstream stream(text);
  std::string start, stop, count;
  std::getline(stream, start, ':');
  std::getline(stream, stop, ':');
  std::getline(stream, count);
  auto bounds = parse_numbers(start + "," + stop, "--t");
  auto n = parse_numbers(count, "--t count");
  const int64_t points = n.item<int64_t>();
  TORCH_CHECK(points >= 2 && double(points) == n.item<double>(), "--t start:stop:count needs an integer count >= 2, got ",
              count);
  return torch::linspace(bounds[0].item<double>(), bounds[1].item<double>(), points, torch::kFloat64);
}

}  // namespace deepdyn::cli
