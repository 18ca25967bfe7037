#include "deepdyn/data/images.h"

#include <zlib.h>

#include <filesystem>
#include <vector>

#include "deepdyn/core/math.h"
#include "deepdyn/io/arrays.h"

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

namespace {

// The first of `candidates` that exists, or "".
std::string first_existing(const std::vector<std::string>& candidates) {
  for (const auto& path : candidates)
    if (std::filesystem::exists(path)) return path;
  return "";
}

torch::Tensor read_images_or_labels(const std::string& path) {
  return io::has_extension(path, ".npy") || io::has_extension(path, ".pt") ? io::read_array(path) : read_idx(path);
}

}  // namespace

LabelledImages load_labelled_images(const std::string& directory, Split split) {
  TORCH_CHECK(std::filesystem::is_directory(directory), "image directory '", directory,
              "' does not exist or is not a directory");
  const bool train = split == Split::Train;
  const std::string idx = train ? "train" : "t10k", arrays = train ? "train" : "test";
  const auto at = [&](const std::string& name) { return directory + "/" + name; };
  const auto images_path = first_existing({at(idx + "-images-idx3-ubyte.gz"), at(idx + "-images-idx3-ubyte"),
                                           at(arrays + "_images.npy"), at(arrays + "_images.pt")});
  const auto labels_path = first_existing({at(idx + "-labels-idx1-ubyte.gz"), at(idx + "-labels-idx1-ubyte"),
                                           at(arrays + "_labels.npy"), at(arrays + "_labels.pt")});
  TORCH_CHECK(!images_path.empty() && !labels_path.empty(), "image directory '", directory, "' has no ",
              train ? "training " : "test ", images_path.empty() ? "images" : "labels", ": expected ", idx,
              "-images-idx3-ubyte[.gz] and ", idx, "-labels-idx1-ubyte[.gz] (MNIST's IDX files), or ", arrays,
              "_images and ", arrays, "_labels as .npy or .pt");
  auto images = read_images_or_labels(images_path);
  auto labels = read_images_or_labels(labels_path);
  TORCH_CHECK(images.dim() == 3 || images.dim() == 4, "'", images_path,
              "': expected images [N, H, W] or [N, C, H, W], got shape ", images.sizes());
  if (images.dim() == 3) images = images.unsqueeze(1);
  images = images.scalar_type() == torch::kUInt8 ? images.to(torch::kFloat32).div_(255) : images.to(torch::kFloat32);
  TORCH_CHECK(core::all_finite(images), "'", images_path, "': the images hold a value that is not a finite number");
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "'", labels_path, "': expected ", images.size(0),
              " labels [N], one per image of '", images_path, "', got shape ", labels.sizes());
  TORCH_CHECK(!labels.is_floating_point() || labels.eq(labels.round()).all().item<bool>(), "'", labels_path,
              "': labels must be whole numbers (the classes numbered from 0)");
  labels = labels.to(torch::kInt64);
  TORCH_CHECK(labels.numel() == 0 || labels.min().item<int64_t>() >= 0, "'", labels_path, "': label ",
              labels.min().item<int64_t>(), " is negative: labels number the classes from 0");
  return {images, labels};
}

}  // namespace deepdyn::data
