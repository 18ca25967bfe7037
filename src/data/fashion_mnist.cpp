#include "deepdyn/data/fashion_mnist.h"

#include <filesystem>

namespace deepdyn::data {

LabelledImages load_fashion_mnist(Split split, const std::string& directory) {
  TORCH_CHECK(std::filesystem::is_directory(directory), "Fashion-MNIST directory ", directory,
              " is missing: install Debian's dataset-fashion-mnist package (scripts/setup.sh does), or "
              "pass the directory that holds the gzip IDX files");
  auto set = load_labelled_images(directory, split);
  TORCH_CHECK(set.images.size(1) == 1 && set.images.size(2) == 28 && set.images.size(3) == 28, "Fashion-MNIST in ",
              directory, " should hold [N, 28, 28] images, got ", set.images.sizes());
  TORCH_CHECK(set.labels.max().item<int64_t>() <= 9, "Fashion-MNIST in ", directory, " holds a label above 9");
  return set;
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
