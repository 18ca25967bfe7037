#include "deepdyn/core/trace.h"

namespace deepdyn::core {

torch::Tensor draw_noise(Noise noise, const torch::Tensor& like) {
  if (noise == Noise::Gaussian) return torch::randn_like(like);
  return torch::randint_like(like, 0, 2).mul_(2).sub_(1);  // Rademacher: +-1 with equal odds
}

}  // namespace deepdyn::core
