#pragma once
// Video-like sequence data sets of ODE2VAE (Yildiz, Heinonen & Lahdesmaki 2019), made here from a seed.
#include <torch/torch.h>

#include <string>

namespace deepdyn::data {

struct BouncingBallsOptions {
  TORCH_ARG(int64_t, balls) = 3;
  TORCH_ARG(int64_t, frames) = 20;
  /// Frames are size x size pixels of the unit box.
  TORCH_ARG(int64_t, size) = 32;
  /// Ball radius, as a fraction of the box side.
  TORCH_ARG(double, radius) = 0.12;
  /// Speeds are drawn uniformly from [min_speed, max_speed], in box sides per frame.
  TORCH_ARG(double, min_speed) = 0.04;
  TORCH_ARG(double, max_speed) = 0.08;
  /// Physics sub-steps per frame (collisions are resolved at this resolution).
  TORCH_ARG(int64_t, substeps) = 10;
};

/// n sequences [n, frames, 1, size, size] (float32 in [0, 1]) of equal-mass balls bouncing
/// elastically off each other and the walls of the unit box, rendered as anti-aliased discs
/// (Sutskever, Hinton & Taylor 2009's data, as used by ODE2VAE). A pure function of the seed.
torch::Tensor bouncing_balls(int64_t n, uint64_t seed, const BouncingBallsOptions& options = {});

/// One sequence per image: the image rotated (clockwise as displayed with row 0 on top) through `angles` equally spaced
/// angles of a full turn, starting from a random one of them (rotating MNIST of ODE2VAE).
/// images [n, 1, H, W] or [n, H, W] -> [n, angles, 1, H, W], bilinear, zero outside the image.
torch::Tensor rotating_images(const torch::Tensor& images, uint64_t seed, int64_t angles = 16);

/// Sequences of one's own from a .npy or .pt array, float32: frames [N, T, C, H, W] (bytes scaled
/// to [0, 1]; other numbers must already lie in [0, 1], where a Bernoulli likelihood lives) or
/// vectors [N, T, D] (any finite numbers), T >= 2. Another rank, a value that is not finite or
/// a frame value outside [0, 1] is refused with one line naming the file.
torch::Tensor read_sequences(const std::string& path);

}  // namespace deepdyn::data
