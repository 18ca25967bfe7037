#include "deepdyn/data/fashion_mnist.h"

#include <zlib.h>

#include <filesystem>
#include <memory>

namespace deepdyn::data {
namespace {

struct GzipFile {
  explicit GzipFile(const std::string& path) : handle(gzopen(path.c_str(), "rb")) {}
  ~GzipFile() {
    if (handle) gzclose(handle);
  }
  GzipFile(const GzipFile&) = delete;
  GzipFile& operator=(const GzipFile&) = delete;

  // Reads exactly n bytes; false on a short read (truncated file or corrupt gzip stream).
  bool read(void* buffer, size_t n) {
    auto* out = static_cast<char*>(buffer);
    while (n > 0) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
      const int got = gzread(handle, out, chunk);
      if (got <= 0) return false;
      out += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }
  gzFile handle;
};

uint32_t big_endian(const unsigned char* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

constexpr unsigned char kUnsignedByte = 0x08;

}  // namespace

torch::Tensor read_idx(const std::string& path) {
  GzipFile file(path);
  TORCH_CHECK(file.handle, "cannot open IDX file ", path);
  unsigned char magic[4];
  TORCH_CHECK(file.read(magic, 4), path, " is empty or not an IDX file");
  TORCH_CHECK(magic[0] == 0 && magic[1] == 0, path, " is not an IDX file: its first two bytes must be zero");
  TORCH_CHECK(magic[2] == kUnsignedByte, path, " holds IDX type 0x", std::hex, int(magic[2]),
              "; only unsigned bytes (0x08) are supported");
  const int rank = magic[3];
  TORCH_CHECK(rank >= 1 && rank <= 4, path, " declares rank ", rank, "; expected 1 to 4");
  std::vector<int64_t> shape(rank);
  for (auto& size : shape) {
    unsigned char b[4];
    TORCH_CHECK(file.read(b, 4), path, " is truncated in its header");
    size = big_endian(b);
  }
  auto data = torch::empty(shape, torch::kUInt8);
  TORCH_CHECK(file.read(data.data_ptr<uint8_t>(), static_cast<size_t>(data.numel())), path,
              " is truncated: its header declares shape ", c10::IntArrayRef(shape));
  char extra;
  TORCH_CHECK(gzread(file.handle, &extra, 1) == 0, path, " has data past the shape its header declares ",
              c10::IntArrayRef(shape));
  return data;
}

LabelledImages load_fashion_mnist(Split split, const std::string& directory) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  const auto images_path = directory + "/" + prefix + "-images-idx3-ubyte.gz";
  const auto labels_path = directory + "/" + prefix + "-labels-idx1-ubyte.gz";
  for (const auto& path : {images_path, labels_path}) {
    TORCH_CHECK(std::filesystem::exists(path), "Fashion-MNIST file ", path,
                " is missing: install Debian's dataset-fashion-mnist package (scripts/setup.sh does), or "
                "pass the directory that holds the gzip IDX files");
  }
  auto images = read_idx(images_path);
  auto labels = read_idx(labels_path);
  TORCH_CHECK(images.dim() == 3 && images.size(1) == 28 && images.size(2) == 28, images_path,
              " should hold [N, 28, 28] images, got ", images.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), labels_path, " should hold ", images.size(0),
              " labels, got shape ", labels.sizes());
  TORCH_CHECK(labels.max().item<int>() <= 9, labels_path, " holds a label above 9");
  return {images.unsqueeze(1).to(torch::kFloat32).div_(255), labels.to(torch::kInt64)};
}

const char* fashion_mnist_class_name(int64_t label) {
  static const char* const names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  TORCH_CHECK(label >= 0 && label <= 9, "Fashion-MNIST labels are 0..9, got ", label);
  return names[label];
}

torch::Tensor standardize_fashion_mnist(const torch::Tensor& images) {
  constexpr double kPixelMean = 0.2860, kPixelStd = 0.3530;  // over the 60000 training images
  return (images - kPixelMean) / kPixelStd;
}

}  // namespace deepdyn::data
