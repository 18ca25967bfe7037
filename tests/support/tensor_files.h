#pragma once
// Tensors written to files as Python's torch.save and MNIST's IDX files have them, for tests of
// the file readers.
#include <torch/torch.h>
#include <zlib.h>

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace deepdyn::testing {

/// Writes `tensor` to `path` in torch.save's zip format; returns the path.
inline std::string write_pt(const std::string& path, const torch::Tensor& tensor) {
  const auto bytes = torch::pickle_save(tensor);
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  return path;
}

/// IDX bytes (LeCun's MNIST format): two zero bytes, the type byte, the rank, the big-endian
/// 32-bit sizes, then `data` (which a test may make too short or too long).
inline std::string idx_bytes(const std::vector<uint32_t>& shape, const std::vector<uint8_t>& data,
                             uint8_t type = 0x08) {
  std::string bytes = {0, 0, static_cast<char>(type), static_cast<char>(shape.size())};
  for (uint32_t size : shape)
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((size >> shift) & 0xff));
  bytes.append(data.begin(), data.end());
  return bytes;
}

/// Writes `bytes` gzip-compressed to `path`.
inline void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  if (file == nullptr) throw std::runtime_error("cannot write " + path);
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
}

/// A uint8 tensor as an IDX file, gzip-compressed or not; returns the path.
inline std::string write_idx(const std::string& path, const torch::Tensor& bytes, bool gzip) {
  const auto values = bytes.to(torch::kUInt8).contiguous();
  std::vector<uint32_t> shape(values.sizes().begin(), values.sizes().end());
  const auto file = idx_bytes(shape, {values.data_ptr<uint8_t>(), values.data_ptr<uint8_t>() + values.numel()});
  if (gzip)
    write_gzip(path, file);
  else
    std::ofstream(path, std::ios::binary) << file;
  return path;
}

}  // namespace deepdyn::testing
