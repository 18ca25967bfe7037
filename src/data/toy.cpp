#include "deepdyn/data/toy.h"

#include <cmath>

#include "data/detail/rng.h"
#include "deepdyn/core/math.h"
#include "deepdyn/core/names.h"

namespace deepdyn::data {
namespace {

using detail::kDouble;
using detail::Rng;

constexpr double kPi = 3.14159265358979323846;

// ffjord divides 8gaussians by 1.414, not by sqrt(2).
constexpr double kEightGaussiansScale = 4.0;
constexpr double kEightGaussiansDivisor = 1.414;
constexpr double kEightGaussiansStd = 0.5;

// numpy's linspace(0, stop, k, endpoint=False).
torch::Tensor linspace_without_endpoint(int64_t k, double stop) {
  return torch::arange(k, kDouble) * (stop / static_cast<double>(std::max<int64_t>(k, 1)));
}

// [k, 2] points radius * (cos, sin) of the angles.
torch::Tensor circle(const torch::Tensor& angles, double radius) {
  return torch::stack({angles.cos(), angles.sin()}, 1) * radius;
}

// The 8 unit-circle directions of ffjord's 8gaussians, in its order: [8, 2].
torch::Tensor eight_directions() {
  const double d = 1.0 / std::sqrt(2.0);
  return torch::tensor({1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, -1.0, d, d, d, -d, -d, d, -d, -d}, kDouble).view({8, 2});
}

// ffjord toy_data.py "8gaussians": point = 0.5 randn + 4 c for a uniformly chosen direction c, all / 1.414.
torch::Tensor eight_gaussians(Rng& rng, int64_t n) {
  auto points = rng.normal({n, 2}) * kEightGaussiansStd;
  const auto centers = eight_directions() * kEightGaussiansScale;
  points += centers.index_select(0, rng.integers(0, 8, {n}));
  return points / kEightGaussiansDivisor;
}

// ffjord toy_data.py "checkerboard": x1 uniform in [-2, 2); x2 uniform in [0, 1) or [-2, -1), shifted up by
// one where floor(x1) is odd (Python's % is non-negative); both scaled by 2.
torch::Tensor checkerboard(Rng& rng, int64_t n) {
  const auto x1 = rng.uniform({n}) * 4 - 2;
  const auto x2_base = rng.uniform({n}) - rng.integers(0, 2, {n}).to(torch::kFloat64) * 2;
  const auto x2 = x2_base + torch::remainder(x1.floor(), 2);
  return torch::stack({x1, x2}, 1) * 2;
}

// ffjord toy_data.py "pinwheel": 5 arms; features (1 + 0.3 randn, 0.1 randn) multiplied on the right by the
// rotation [[cos a, -sin a], [sin a, cos a]] with a = 2 pi k / 5 + 0.25 exp(feature_0); scaled by 2.
// ffjord draws n / 5 per arm (dropping the remainder); here row i goes to arm i mod 5.
torch::Tensor pinwheel(Rng& rng, int64_t n) {
  constexpr double kRadialStd = 0.3, kTangentialStd = 0.1, kRate = 0.25;
  constexpr int64_t kArms = 5;
  auto features = rng.normal({n, 2}) * torch::tensor({kRadialStd, kTangentialStd}, kDouble);
  const auto f0 = features.select(1, 0) + 1.0;
  const auto f1 = features.select(1, 1);
  const auto arm = torch::arange(n, torch::kInt64).remainder(kArms).to(torch::kFloat64);
  const auto angles = arm * (2 * kPi / kArms) + kRate * f0.exp();
  const auto c = angles.cos(), s = angles.sin();
  const auto points = torch::stack({f0 * c + f1 * s, -f0 * s + f1 * c}, 1) * 2;
  return rng.shuffle_rows(points);
}

// ffjord toy_data.py "2spirals": t = sqrt(u) 540 (2 pi / 360); d1 = (-cos(t) t, sin(t) t) + 0.5 u'; the
// second spiral is -d1 of the same draws; all / 3, plus 0.1 randn. An odd n gives the first spiral one more.
torch::Tensor two_spirals(Rng& rng, int64_t n) {
  const int64_t first = (n + 1) / 2;
  const auto t = rng.uniform({first}).sqrt() * (540 * 2 * kPi / 360);
  const auto d1x = -t.cos() * t + rng.uniform({first}) * 0.5;
  const auto d1y = t.sin() * t + rng.uniform({first}) * 0.5;
  const auto d1 = torch::stack({d1x, d1y}, 1);
  auto points = torch::cat({d1, -d1.slice(0, 0, n - first)}) / 3;
  points += rng.normal({n, 2}) * 0.1;
  return rng.shuffle_rows(points);
}

// sklearn.datasets.make_moons(n, noise=0.1): n / 2 points on the upper unit half circle, the rest on the
// lower one shifted to (1 - cos, 1 - sin - 0.5), both with endpoints; then ffjord's * 2 + (-1, -0.2).
torch::Tensor moons(Rng& rng, int64_t n) {
  const int64_t outer = n / 2, inner = n - outer;
  const auto a_out = torch::linspace(0, kPi, outer, kDouble);
  const auto a_in = torch::linspace(0, kPi, inner, kDouble);
  const auto upper = torch::stack({a_out.cos(), a_out.sin()}, 1);
  const auto lower = torch::stack({1 - a_in.cos(), 1 - a_in.sin() - 0.5}, 1);
  auto points = rng.shuffle_rows(torch::cat({upper, lower}));
  points += rng.normal({n, 2}) * 0.1;
  return points * 2 + torch::tensor({-1.0, -0.2}, kDouble);
}

// sklearn.datasets.make_circles(n, factor=0.5, noise=0.08): n / 2 points on the unit circle, the rest on the
// circle of radius 0.5, angles without endpoint, plus 0.08 randn; then ffjord's * 3.
torch::Tensor circles(Rng& rng, int64_t n) {
  const int64_t outer = n / 2, inner = n - outer;
  const auto points = torch::cat(
      {circle(linspace_without_endpoint(outer, 2 * kPi), 1.0), circle(linspace_without_endpoint(inner, 2 * kPi), 0.5)});
  return (rng.shuffle_rows(points) + rng.normal({n, 2}) * 0.08) * 3;
}

// ffjord toy_data.py "rings": n / 4 points on each of the circles of radius 1, 0.75 and 0.5, the rest on
// radius 0.25, angles without endpoint; * 3, shuffled, plus 0.08 randn.
torch::Tensor rings(Rng& rng, int64_t n) {
  const int64_t quarter = n / 4, innermost = n - 3 * quarter;
  const auto ring = linspace_without_endpoint(quarter, 2 * kPi);
  const auto points = torch::cat({circle(ring, 1.0), circle(ring, 0.75), circle(ring, 0.5),
                                  circle(linspace_without_endpoint(innermost, 2 * kPi), 0.25)}) *
                      3.0;
  return rng.shuffle_rows(points) + rng.normal({n, 2}) * 0.08;
}

// sklearn.datasets.make_swiss_roll(n, noise=1.0): t = 1.5 pi (1 + 2 u), (x, z) = (t cos t, t sin t), plus
// randn noise; ffjord keeps columns [0, 2] (x, z) and divides by 5. The dropped height column is not drawn.
torch::Tensor swiss_roll(Rng& rng, int64_t n) {
  const auto t = (1 + 2 * rng.uniform({n})) * (1.5 * kPi);
  const auto points = torch::stack({t * t.cos(), t * t.sin()}, 1) + rng.normal({n, 2}) * 1.0;
  return points / 5;
}

struct ToyEntry {
  Toy toy;
  const char* name;
  torch::Tensor (*sample)(Rng&, int64_t);
};

// In the order of the enum.
const ToyEntry kToys[] = {
    {Toy::EightGaussians, "8gaussians", eight_gaussians},
    {Toy::Checkerboard, "checkerboard", checkerboard},
    {Toy::Pinwheel, "pinwheel", pinwheel},
    {Toy::TwoSpirals, "2spirals", two_spirals},
    {Toy::Moons, "moons", moons},
    {Toy::Circles, "circles", circles},
    {Toy::Rings, "rings", rings},
    {Toy::SwissRoll, "swissroll", swiss_roll},
};

const ToyEntry& entry(Toy toy) {
  const auto index = static_cast<size_t>(toy);
  TORCH_CHECK(index < std::size(kToys), "invalid Toy value ", index, "; expected 0 to ", std::size(kToys) - 1);
  return kToys[index];
}

const core::NameTable<Toy>& names() {
  static const core::NameTable<Toy> table("toy density", [] {
    std::vector<std::pair<std::string, Toy>> entries;
    for (const auto& e : kToys) entries.emplace_back(e.name, e.toy);
    return entries;
  }());
  return table;
}

}  // namespace

const std::vector<Toy>& all_toys() {
  static const std::vector<Toy> toys = [] {
    std::vector<Toy> all;
    for (const auto& e : kToys) all.push_back(e.toy);
    return all;
  }();
  return toys;
}

const std::vector<std::string>& toy_names() { return names().names(); }

const std::string& toy_name(Toy toy) { return names().name_of(toy); }

Toy parse_toy(const std::string& name) { return names().parse(name); }

torch::Tensor sample_toy(Toy toy, int64_t n, uint64_t seed, torch::TensorOptions options) {
  TORCH_CHECK(n >= 1, "sample_toy(", toy_name(toy), ") needs n >= 1 samples, got n = ", n);
  const auto dtype = c10::typeMetaToScalarType(options.dtype());
  TORCH_CHECK(c10::isFloatingType(dtype), "sample_toy needs a floating dtype, got ", dtype);
  Rng rng(seed);
  auto points = entry(toy).sample(rng, n);
  return points.to(options.device(), dtype).contiguous();
}

torch::Tensor eight_gaussians_log_density(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == 2, "eight_gaussians_log_density expects points [..., 2], got shape ",
              x.sizes());
  TORCH_CHECK(x.is_floating_point(), "eight_gaussians_log_density expects a floating dtype, got ", x.scalar_type());
  const double sigma = kEightGaussiansStd / kEightGaussiansDivisor;
  const auto means = (eight_directions() * (kEightGaussiansScale / kEightGaussiansDivisor)).to(x.options());
  // [..., 8] squared distances to the means.
  const auto squared = (x.unsqueeze(-2) - means).pow(2).sum(-1);
  return torch::logsumexp(squared * (-0.5 / (sigma * sigma)), -1) - std::log(8.0) - core::kLogTwoPi - std::log(sigma * sigma);
}

}  // namespace deepdyn::data
