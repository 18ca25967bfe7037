#pragma once
#include <torch/torch.h>

#include <string>

#include "deepdyn/data/images.h"

namespace deepdyn::data {

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
