#pragma once
// Labelled images from files, for classifiers trained on one's own data: MNIST's IDX format and
// arrays saved by NumPy or PyTorch.
#include <torch/torch.h>

#include <string>

namespace deepdyn::data {

/// Reads an IDX file (LeCun's MNIST format: two zero bytes, a type byte, the rank, then big-endian
/// 32-bit sizes and the data), gzip-compressed or not. Only unsigned-byte data (type 0x08) is
/// accepted. Returns a uint8 tensor of the stored shape. Errors name the file and what is wrong.
torch::Tensor read_idx(const std::string& path);

/// Images as float32 [N, C, H, W] and labels as int64 [N].
struct LabelledImages {
  torch::Tensor images, labels;
};

enum class Split { Train, Test };

/// One split of the labelled images in `directory`, in either layout:
/// - MNIST's IDX files {train,t10k}-images-idx3-ubyte and {train,t10k}-labels-idx1-ubyte, each
///   gzip-compressed (.gz) or not;
/// - arrays saved by numpy.save or torch.save: {train,test}_images and {train,test}_labels,
///   .npy or .pt.
/// Images are [N, H, W] or [N, C, H, W], bytes (scaled to [0, 1]) or other numbers (kept);
/// labels are N whole numbers from 0. A missing directory or file, images of another rank or
/// with a value that is not finite, a label count other than the images', and a label that is
/// negative or not whole are refused with one line naming the file.
LabelledImages load_labelled_images(const std::string& directory, Split split);

}  // namespace deepdyn::data
