#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace deepdyn::data {

/// The 2-D toy densities of FFJORD (Grathwohl et al. 2019), as defined by lib/toy_data.py of
/// rtqichen/ffjord (which takes moons, circles and swissroll from scikit-learn).
enum class Toy { EightGaussians, Checkerboard, Pinwheel, TwoSpirals, Moons, Circles, Rings, SwissRoll };

/// Every toy, in the order of the enum.
const std::vector<Toy>& all_toys();

/// ffjord's names, in the order of all_toys(): "8gaussians", "checkerboard", "pinwheel", "2spirals", "moons",
/// "circles", "rings", "swissroll".
const std::vector<std::string>& toy_names();
const std::string& toy_name(Toy toy);
/// Parses one of toy_names(); an unknown name is refused with the valid list.
Toy parse_toy(const std::string& name);

/// n samples [n, 2] of a toy density. They are drawn on the CPU in float64 from a generator seeded with
/// `seed` (the same seed gives the same samples) and then converted to `options` (a floating dtype; the
/// device defaults to the CPU). Densities made of classes (rings, moons, ...) return exactly n rows for any
/// n >= 1, the classes as even as n allows, with the rows shuffled so that the classes are mixed.
torch::Tensor sample_toy(Toy toy, int64_t n, uint64_t seed, torch::TensorOptions options = torch::kFloat32);

/// The exact log-density of "8gaussians": an equal-weight mixture of 8 isotropic Gaussians with means
/// 4 c / 1.414 for c in {(±1, 0), (0, ±1), (±1/√2, ±1/√2)} and standard deviation 0.5 / 1.414.
/// x is [..., 2] of a floating dtype; returns [...] in x's dtype and device, differentiable in x.
/// Its differential entropy is about 2.84 nats: 2.832 by quadrature, just under the 2.838 = log 8 +
/// log(2 pi e sigma^2), sigma = 0.5 / 1.414, that it would have if its modes did not overlap at all.
torch::Tensor eight_gaussians_log_density(const torch::Tensor& x);

}  // namespace deepdyn::data
