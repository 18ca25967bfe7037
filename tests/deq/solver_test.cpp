// Fixed-point solvers: exact solutions of contractive linear maps, the tanh DEQ cell, singular
// Anderson systems, non-contractive maps, maps without a fixed point, far fixed points, Anderson at
// tight tolerances and option validation.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include "deq/maps.h"

namespace dd = deepdyn;
using dd::deq::Anderson;
using dd::deq::Broyden;
using dd::deq::Picard;
using dd::deq::FixedPointOptions;
using dd::core::Termination;
using dd::testing::TanhCell;
using dd::testing::with_spectral_norm;

namespace {

constexpr double kTol = 1e-8;

std::vector<std::pair<std::string, FixedPointOptions>> all_solvers() {
  auto with = [](dd::deq::Method m) { return FixedPointOptions(m).tol(kTol).max_iterations(400); };
  return {{"picard", with(Picard{})},
          {"anderson", with(Anderson{})},
          {"broyden", with(Broyden{})},
          {"broyden_line_search", with(Broyden().line_search(true))}};
}

// z = z A^T + c, A symmetric with eigenvalues spread over [-0.9, 0.9] (so ||A||_2 = 0.9 and Picard
// contracts no faster than 0.9 per step): z* = c (I - A)^{-1}.
struct LinearMap {
  torch::Tensor a, c;
  LinearMap(double norm, int64_t n = 64, int64_t batch = 4) {
    torch::manual_seed(3);
    auto q = std::get<0>(at::linalg_qr(torch::randn({n, n}, torch::kFloat64)));
    auto eigenvalues = torch::linspace(-norm, norm, n, torch::kFloat64);
    a = torch::matmul(q * eigenvalues, q.t());
    c = torch::randn({batch, n}, torch::kFloat64);
  }
  torch::Tensor operator()(const torch::Tensor& z) const { return torch::matmul(z, a.t()) + c; }
  torch::Tensor exact() const {
    auto eye = torch::eye(a.size(0), torch::kFloat64);
    return at::linalg_solve(eye - a, c.t(), /*left=*/true).t();
  }
};

std::map<std::string, int64_t> solve_all(const dd::deq::FixedPointMap& f, const torch::Tensor& z0,
                                         const std::function<void(const torch::Tensor&)>& check_solution) {
  std::map<std::string, int64_t> nfe;
  for (const auto& [name, options] : all_solvers()) {
    SCOPED_TRACE(name);
    auto result = dd::deq::solve_fixed_point(f, z0, options);
    EXPECT_EQ(result.stats.termination, Termination::Success) << result.stats.message;
    EXPECT_EQ(result.stats.termination, Termination::Success);
    EXPECT_LE(result.residuals.relative.max().item<double>(), kTol);
    auto fz = f(result.z);
    auto relative = (fz - result.z).flatten(1).norm(2, 1) / fz.flatten(1).norm(2, 1);
    EXPECT_LE(relative.max().item<double>(), kTol) << "recomputed residual of the returned iterate";
    EXPECT_EQ(result.residuals.relative_trace.size(0), result.stats.steps + 1);
    EXPECT_EQ(result.residuals.relative_trace.size(1), z0.size(0));
    check_solution(result.z);
    nfe[name] = result.stats.nfe;
    std::cout << "[ solver   ] " << name << ": " << result.stats.steps << " iterations, " << result.stats.nfe
              << " f evaluations\n";
  }
  return nfe;
}

void expect_quasi_newton_cheaper(const std::map<std::string, int64_t>& nfe) {
  EXPECT_LT(nfe.at("anderson"), nfe.at("picard"));
  EXPECT_LT(nfe.at("broyden"), nfe.at("picard"));
  EXPECT_LT(nfe.at("broyden_line_search"), nfe.at("picard"));
}

}  // namespace

TEST(FixedPoint, LinearContractionReachesExactSolution) {
  LinearMap map(0.9);
  auto exact = map.exact();
  auto nfe = solve_all(std::ref(map), torch::zeros_like(map.c), [&](const torch::Tensor& z) {
    // Error <= residual / (1 - 0.9) in norm: a relative residual of 1e-8 leaves ~1e-7.
    EXPECT_LE(((z - exact).norm() / exact.norm()).item<double>(), 1e-6);
  });
  expect_quasi_newton_cheaper(nfe);
}

TEST(FixedPoint, TanhCellWidth64) {
  TanhCell cell(0.9);
  auto x = torch::randn({8, 32}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto nfe =
      solve_all([&](const torch::Tensor& z) { return cell.forward(z, x); }, torch::zeros({8, 64}, torch::kFloat64),
                [](const torch::Tensor& z) { EXPECT_TRUE(z.isfinite().all().item<bool>()); });
  expect_quasi_newton_cheaper(nfe);
}

TEST(FixedPoint, AbsoluteStoppingAndStructuredStates) {
  // A [batch, 2, 3] state: residuals are per sample over all of its entries.
  LinearMap map(0.5, 6, 3);
  auto f = [&](const torch::Tensor& z) { return map(z.reshape({3, 6})).reshape({3, 2, 3}); };
  auto result =
      dd::deq::solve_fixed_point(f, torch::zeros({3, 2, 3}, torch::kFloat64),
                                 FixedPointOptions(Anderson()).tol(1e-10).stop_on(dd::deq::ResidualNorm::Absolute));
  ASSERT_EQ(result.stats.termination, Termination::Success) << result.stats.message;
  EXPECT_EQ(result.z.sizes(), (std::vector<int64_t>{3, 2, 3}));
  EXPECT_LE(result.residuals.absolute.max().item<double>(), 1e-10);
  EXPECT_TRUE(torch::allclose(result.z.reshape({3, 6}), map.exact(), 0, 1e-9));
}

TEST(FixedPoint, AndersonSurvivesSingularLeastSquares) {
  // Residuals live in R^2 but memory is 6 with lambda = 0: the Gram matrix is singular from the
  // third step on. The pseudo-inverse must still give finite weights and converge.
  LinearMap map(0.8, 2, 5);
  auto result = dd::deq::solve_fixed_point(std::ref(map), torch::zeros_like(map.c),
                                           FixedPointOptions(Anderson().memory(6).lambda(0)).tol(1e-10));
  ASSERT_EQ(result.stats.termination, Termination::Success) << result.stats.message;
  EXPECT_TRUE(torch::allclose(result.z, map.exact(), 0, 1e-8));
}

TEST(FixedPoint, AlreadyAtTheFixedPointTakesNoStep) {
  LinearMap map(0.5, 4, 2);
  auto result = dd::deq::solve_fixed_point(std::ref(map), map.exact(), FixedPointOptions().tol(1e-8));
  EXPECT_EQ(result.stats.termination, Termination::Success);
  EXPECT_EQ(result.stats.steps, 0);
  EXPECT_EQ(result.stats.nfe, 1);
}

TEST(FixedPoint, NonContractiveTanhEndsUnconvergedAndFinite) {
  TanhCell cell(3.0);
  auto x = torch::randn({8, 32}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  for (const auto& [name, options] : all_solvers()) {
    SCOPED_TRACE(name);
    auto result =
        dd::deq::solve_fixed_point([&](const torch::Tensor& z) { return cell.forward(z, x); },
                                   torch::zeros({8, 64}, torch::kFloat64), FixedPointOptions(options).max_iterations(60));
    EXPECT_NE(result.stats.termination, Termination::Success);
    EXPECT_NE(result.stats.termination, Termination::Success);
    EXPECT_LE(result.stats.steps, 60);
    EXPECT_FALSE(result.stats.message.empty());
    EXPECT_TRUE(result.z.isfinite().all().item<bool>());
    EXPECT_TRUE(result.residuals.relative.isfinite().all().item<bool>());
    std::cout << "[ solver   ] " << name << " on ||W|| = 3: " << result.stats.message << "\n";
  }
}

TEST(FixedPoint, ExpandingLinearMapIsReportedDiverged) {
  // Picard on a map with spectral radius 3 grows without bound; the solve must stop and say so.
  LinearMap map(0.5, 8, 2);
  auto expanding = [&](const torch::Tensor& z) { return 3 * z + map.c; };
  auto z0 = torch::zeros_like(map.c);
  auto relative = dd::deq::solve_fixed_point(expanding, z0, FixedPointOptions(Picard()).max_iterations(1000));
  EXPECT_EQ(relative.stats.termination, Termination::Diverged) << dd::core::termination_name(relative.stats.termination);
  EXPECT_LT(relative.stats.steps, 40);
  EXPECT_TRUE(relative.z.isfinite().all().item<bool>());
  // The absolute residual grows at every step, so the best iterate is the first one.
  auto absolute = dd::deq::solve_fixed_point(
      expanding, z0, FixedPointOptions(Picard()).max_iterations(1000).stop_on(dd::deq::ResidualNorm::Absolute));
  EXPECT_EQ(absolute.stats.termination, Termination::Diverged);
  EXPECT_TRUE(torch::equal(absolute.z, z0));
}

TEST(FixedPoint, NaNFromTheMapIsReportedNonFinite) {
  auto result = dd::deq::solve_fixed_point([](const torch::Tensor& z) { return torch::log(z - 1); },
                                           torch::full({2, 3}, 3.0, torch::kFloat64), FixedPointOptions(Picard()));
  EXPECT_EQ(result.stats.termination, Termination::NonFinite);
  EXPECT_TRUE(result.z.isfinite().all().item<bool>());
}

TEST(FixedPoint, RefusesBadOptionsWithAMessage) {
  LinearMap map(0.5, 4, 2);
  auto z0 = torch::zeros_like(map.c);
  auto expect_refused = [&](const FixedPointOptions& options, const std::string& fragment) {
    try {
      dd::deq::solve_fixed_point(std::ref(map), z0, options);
      ADD_FAILURE() << "accepted options that should be refused: " << fragment;
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_refused(FixedPointOptions().tol(0), "tol must be > 0");
  expect_refused(FixedPointOptions().max_iterations(0), "max_iterations must be >= 1");
  expect_refused(FixedPointOptions(Picard().damping(1.5)), "Picard damping must be in (0, 1]");
  expect_refused(FixedPointOptions(Anderson().memory(0)), "Anderson memory must be >= 1");
  expect_refused(FixedPointOptions(Anderson().beta(0)), "Anderson beta must be in (0, 1]");
  expect_refused(FixedPointOptions(Broyden().memory(0)), "Broyden memory must be >= 1");
  expect_refused(FixedPointOptions().divergence_ratio(1), "divergence_ratio must be > 1");
  EXPECT_THROW(dd::deq::solve_fixed_point([](const torch::Tensor& z) { return z.sum(1); }, z0), c10::Error);
  try {
    dd::deq::parse_method("broydn");
    ADD_FAILURE() << "a misspelled method was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("picard, anderson, broyden"), std::string::npos) << e.what();
  }
  EXPECT_EQ(dd::deq::method_name(dd::deq::parse_method("anderson")), "anderson");
}

TEST(FixedPoint, MapWithoutFixedPointIsReportedDivergedNotConverged) {
  // Sample 1 follows f(z) = z + 1 + tanh(z)/2, which has no fixed point: its residual stays in
  // (0.5, 1.5) per entry while z runs off, so ||f(z) - z|| / ||f(z)|| falls below tol only because
  // ||f(z)|| grows (Broyden: 1e-6 at ||f|| ~ 3e6, ||f(z) - z|| = 1.22, half its first value). Sample 0
  // follows the contraction f(z) = z/2 + 1: detection is per sample.
  auto f = [](const torch::Tensor& z) {
    auto contraction = z.select(0, 0) / 2 + 1;
    auto runaway = z.select(0, 1) + 1 + torch::tanh(z.select(0, 1)) / 2;
    return torch::stack({contraction, runaway});
  };
  auto z0 = torch::zeros({2, 6}, torch::kFloat64);
  for (const auto& [name, options] : all_solvers()) {
    SCOPED_TRACE(name);
    auto result = dd::deq::solve_fixed_point(f, z0, FixedPointOptions(options).tol(1e-6));  // the default relative rule
    std::cout << "[ solver   ] " << name << " without a fixed point: " << dd::core::termination_name(result.stats.termination)
              << " after " << result.stats.steps << " iterations\n";
    EXPECT_NE(result.stats.termination, Termination::Success);
    EXPECT_TRUE(result.z.isfinite().all().item<bool>());
    if (name != "picard") {  // Picard creeps (z grows by ~1.5 a step) and only runs out of iterations
      EXPECT_EQ(result.stats.termination, Termination::Diverged) << dd::core::termination_name(result.stats.termination);
      EXPECT_NE(result.stats.message.find("no fixed point"), std::string::npos) << result.stats.message;
    }
  }
}

TEST(FixedPoint, FixedPointFarFromTheStartStillConverges) {
  // f(z) = a z + (1 - a) z* with z* ~ 1e6 and a = 0.999: from z0 = 0, ||f(z)|| grows 1000-fold on the
  // way, so the relative residual falls faster than the absolute one, and must still count.
  // (Picard would need ~18000 steps at a = 0.999.)
  torch::manual_seed(5);
  auto far = 1e6 * (1 + torch::rand({3, 16}, torch::kFloat64));
  const double a = 0.999;
  auto f = [&](const torch::Tensor& z) { return a * z + (1 - a) * far; };
  for (const auto& [name, options] : all_solvers()) {
    if (name == "picard") continue;
    SCOPED_TRACE(name);
    auto result = dd::deq::solve_fixed_point(f, torch::zeros_like(far), options);
    EXPECT_EQ(result.stats.termination, Termination::Success) << result.stats.message;
    EXPECT_TRUE(torch::allclose(result.z, far, 1e-6, 0));
  }
}

namespace {

// Iterations to relative tol on the cell where Anderson used to stall: width 256, ||W||_2 = 0.99, a batch of 4.
int64_t iterations_on_slow_cell(const dd::deq::Method& method, double tol) {
  dd::testing::SymmetricTanhCell cell(0.99, /*width=*/256);
  auto x = 0.3 * torch::randn({4, 32}, torch::kFloat64);
  auto result = dd::deq::solve_fixed_point([&](const torch::Tensor& z) { return cell(z, x); },
                                           torch::zeros({4, 256}, torch::kFloat64),
                                           FixedPointOptions(method).tol(tol).max_iterations(1000));
  EXPECT_EQ(result.stats.termination, Termination::Success) << result.stats.message;
  std::cout << "[ solver   ] " << dd::deq::method_name(method) << " to " << tol << ": " << result.stats.steps
            << " iterations\n";
  return result.stats.steps;
}

}  // namespace

TEST(FixedPoint, AndersonNoSlowerThanPicardAtTightTolerances) {
  EXPECT_LE(iterations_on_slow_cell(Anderson(), 1e-11), iterations_on_slow_cell(Picard(), 1e-11));
  EXPECT_LE(iterations_on_slow_cell(Anderson().memory(20), 1e-10), iterations_on_slow_cell(Picard(), 1e-10));
}
