#include "deepdyn/data/sequences.h"

#include <cmath>

#include "data/detail/rng.h"
#include "deepdyn/core/math.h"
#include "deepdyn/io/arrays.h"

namespace deepdyn::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Non-overlapping centres [balls, 2] inside [r, 1 - r]^2, by rejection of whole configurations.
torch::Tensor place_balls(detail::Rng& rng, int64_t balls, double radius) {
  for (int attempt = 0; attempt < 10000; ++attempt) {
    auto centres = radius + rng.uniform({balls, 2}) * (1 - 2 * radius);
    auto gaps = torch::cdist(centres, centres) + torch::eye(balls, detail::kDouble) * 2 * radius;
    if (gaps.min().item<double>() >= 2 * radius) return centres;
  }
  TORCH_CHECK(false, "bouncing_balls: cannot place ", balls, " balls of radius ", radius,
              " without overlap; use fewer or smaller balls");
}

// One physics sub-step: move, reflect off the walls, then exchange the normal velocity
// components of every approaching pair in contact (an elastic collision of equal masses).
void advance(torch::Tensor& x, torch::Tensor& v, double dt, double radius) {
  x += v * dt;
  auto low = x<radius, high = x> 1 - radius;
  v = torch::where(low, v.abs(), torch::where(high, -v.abs(), v));
  x = x.clamp(radius, 1 - radius);
  auto xa = x.accessor<double, 2>();
  auto va = v.accessor<double, 2>();
  for (int64_t i = 0; i < x.size(0); ++i) {
    for (int64_t j = i + 1; j < x.size(0); ++j) {
      const double dx = xa[j][0] - xa[i][0], dy = xa[j][1] - xa[i][1];
      const double distance = std::hypot(dx, dy);
      if (distance >= 2 * radius || distance == 0) continue;
      const double nx = dx / distance, ny = dy / distance;
      const double approach = (va[i][0] - va[j][0]) * nx + (va[i][1] - va[j][1]) * ny;
      if (approach <= 0) continue;
      va[i][0] -= approach * nx;
      va[i][1] -= approach * ny;
      va[j][0] += approach * nx;
      va[j][1] += approach * ny;
    }
  }
}

// Anti-aliased discs: a pixel is 1 inside, 0 outside, linear over one pixel across the rim.
torch::Tensor render(const torch::Tensor& centres, int64_t size, double radius) {
  auto axis = (torch::arange(size, detail::kDouble) + 0.5) / size;
  auto grid = torch::stack(torch::meshgrid({axis, axis}, "ij"), -1).view({1, size, size, 2});  // (row, col)
  auto points = centres.index_select(1, torch::tensor({1, 0})).view({-1, 1, 1, 2});            // (y, x) per ball
  auto distance = (grid - points).norm(2, -1);
  auto coverage = ((radius - distance) * size + 0.5).clamp(0, 1);
  return std::get<0>(coverage.max(0));
}

}  // namespace

torch::Tensor bouncing_balls(int64_t n, uint64_t seed, const BouncingBallsOptions& options) {
  TORCH_CHECK(n >= 1 && options.balls() >= 1 && options.frames() >= 1 && options.size() >= 4 && options.substeps() >= 1,
              "bouncing_balls: n, balls, frames and substeps must be >= 1 and size >= 4");
  TORCH_CHECK(options.radius() > 0 && options.radius() < 0.5, "bouncing_balls: radius must be in (0, 0.5), got ",
              options.radius());
  TORCH_CHECK(0 <= options.min_speed() && options.min_speed() <= options.max_speed(),
              "bouncing_balls: need 0 <= min_speed <= max_speed");
  detail::Rng rng(seed);
  auto frames = torch::empty({n, options.frames(), 1, options.size(), options.size()});
  const double dt = 1.0 / options.substeps();
  for (int64_t s = 0; s < n; ++s) {
    auto x = place_balls(rng, options.balls(), options.radius());
    auto angle = rng.uniform({options.balls()}) * 2 * kPi;
    auto speed = options.min_speed() + rng.uniform({options.balls()}) * (options.max_speed() - options.min_speed());
    auto v = torch::stack({angle.cos(), angle.sin()}, 1) * speed.unsqueeze(1);
    for (int64_t f = 0; f < options.frames(); ++f) {
      if (f > 0)
        for (int64_t k = 0; k < options.substeps(); ++k) advance(x, v, dt, options.radius());
      frames[s][f][0] = render(x, options.size(), options.radius()).to(torch::kFloat32);
    }
  }
  return frames;
}

torch::Tensor rotating_images(const torch::Tensor& images, uint64_t seed, int64_t angles) {
  TORCH_CHECK(angles >= 1, "rotating_images: angles must be >= 1, got ", angles);
  TORCH_CHECK((images.dim() == 3 || (images.dim() == 4 && images.size(1) == 1)) && images.size(0) >= 1,
              "rotating_images: expected images [n, H, W] or [n, 1, H, W], got ", images.sizes());
  auto source = (images.dim() == 3 ? images.unsqueeze(1) : images).to(torch::kFloat32);
  const int64_t n = source.size(0), h = source.size(2), w = source.size(3);
  detail::Rng rng(seed);
  auto start = rng.integers(0, angles, {n}).to(torch::kFloat64);
  auto steps = torch::arange(angles, detail::kDouble);
  auto theta = ((start.unsqueeze(1) + steps.unsqueeze(0)) * (2 * kPi / angles)).to(torch::kFloat32).view({-1});
  // affine_grid maps output coordinates to input ones: rotating the image by theta samples it at -theta.
  auto c = theta.cos(), s = theta.sin(), zero = torch::zeros_like(c);
  auto affine = torch::stack({c, s, zero, -s, c, zero}, 1).view({-1, 2, 3});
  namespace F = torch::nn::functional;
  auto grid = F::affine_grid(affine, {n * angles, 1, h, w}, /*align_corners=*/false);
  auto repeated = source.repeat_interleave(angles, 0);
  auto rotated = F::grid_sample(
      repeated, grid,
      F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false));
  return rotated.view({n, angles, 1, h, w});
}

torch::Tensor read_sequences(const std::string& path) {
  const std::string where = "sequences file '" + path + "'";
  auto array = io::read_array(path);
  TORCH_CHECK(array.dim() == 5 || array.dim() == 3, where,
              ": expected frames [N, T, C, H, W] or vectors [N, T, D], got shape ", array.sizes());
  TORCH_CHECK(array.size(0) >= 1 && array.size(1) >= 2, where, ": expected one sequence or more of two steps or more, ",
              "got shape ", array.sizes());
  const bool bytes = array.scalar_type() == torch::kUInt8;
  auto sequences = bytes ? array.to(torch::kFloat32).div_(255) : array.to(torch::kFloat32);
  TORCH_CHECK(core::all_finite(sequences), where, ": a value is not a finite number");
  if (array.dim() == 5 && !bytes) {
    const double lo = sequences.min().item<double>(), hi = sequences.max().item<double>();
    TORCH_CHECK(lo >= 0 && hi <= 1, where, ": frame values lie in [", lo, ", ", hi,
                "]; frames need values in [0, 1] (scale them, or save bytes 0-255)");
  }
  return sequences;
}

}  // namespace deepdyn::data
