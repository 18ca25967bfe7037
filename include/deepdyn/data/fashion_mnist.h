#pragma once
#include <torch/torch.h>

#include <string>

namespace deepdyn::data {

/// Reads an IDX file (LeCun's MNIST format: two zero bytes, a type byte, the rank, then big-endian
/// 32-bit sizes and the data), gzip-compressed or not. Only unsigned-byte data (type 0x08) is
/// accepted. Returns a uint8 tensor of the stored shape. Errors name the file and what is wrong.
torch::Tensor read_idx(const std::string& path);

/// Images as float32 [N, 1, 28, 28] in [0, 1] and labels as int64 [N].
struct LabelledImages {
  torch::Tensor images, labels;
};

enum class Split { Train, Test };

/// Where Debian's dataset-fashion-mnist package puts the gzip IDX files.
inline constexpr const char* kFashionMnistDirectory = "/usr/share/datasets/fashion-mnist";

/// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60000 training and 10000 test images of 10 classes.
/// A missing file is reported with the package that provides it.
LabelledImages load_fashion_mnist(Split split, const std::string& directory = kFashionMnistDirectory);

/// (images - mean) / std with the training split's pixel mean 0.2860 and standard deviation 0.3530.
torch::Tensor standardize_fashion_mnist(const torch::Tensor& images);

/// "T-shirt/top", "Trouser", ... for labels 0..9.
const char* fashion_mnist_class_name(int64_t label);

}  // namespace deepdyn::data
