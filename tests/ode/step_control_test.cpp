// The adaptive step control against torchdiffeq 0.2.5 on the same problems: no more field
// evaluations at equal tolerances, and no less accuracy. torchdiffeq's figures were measured with
// bench/compare/step_control.py (the same problems, weights and states) and are written here.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include "ode/problems.h"
#include "spiral_field.h"

namespace dd = deepdyn;
using dd::ode::Method;
using dd::ode::SolveOptions;

namespace {

struct PeerFigures {
  Method method;
  int64_t nfe;           ///< torchdiffeq's field evaluations
  double max_rel_error;  ///< torchdiffeq's largest relative error over the outputs
};

// tests/ode/problems.h's linear system (dim 10, seed 0), ts = linspace(1, 8, 10), rtol = atol = 1e-10,
// float64.
TEST(StepControl, TakesNoMoreStepsThanTorchdiffeqOnALinearSystemAndIsAsAccurate) {
  const auto problem = dd::testing::linear_ode(torch::kFloat64);
  const auto ts = torch::linspace(1, 8, 10, torch::kFloat64);
  const auto exact = problem.exact(ts);
  for (const auto& peer : {PeerFigures{Method::Dopri5, 662, 3.94e-9}, PeerFigures{Method::Bosh3, 7694, 5.8e-6},
                           PeerFigures{Method::Dopri8, 210, 6.8e-6}}) {
    SCOPED_TRACE(dd::ode::method_name(peer.method));
    auto sol = dd::ode::solve(problem.field, exact[0], ts, SolveOptions().method(peer.method).rtol(1e-10).atol(1e-10));
    EXPECT_LE(sol.stats->nfe, peer.nfe);
    EXPECT_LE(dd::testing::max_relative_error(exact, sol.ys), peer.max_rel_error);
  }
}

// torchdiffeq's ode_demo spiral with bench_core's weights and state (seed 0). torchdiffeq needs 152
// evaluations in float32; in float64, where rounding does not blur the comparison, 140 with an
// error of 3.6215e-3 at t = 10. The field is torchdiffeq's to the last bit (LibTorch's tanh): in
// float32 at this tolerance a change of one ulp in tanh moves the count between 146 and 164.
TEST(StepControl, TakesNoMoreStepsThanTorchdiffeqOnTheSpiralAndIsAsAccurate) {
  SpiralProblem spiral(SpiralKernels::LibTorch);
  torch::NoGradGuard no_grad;
  EXPECT_LE(dd::ode::solve(spiral.net, spiral.y0, spiral.ts, spiral.options).stats->nfe, 152);
  spiral.net->to(torch::kFloat64);
  const auto y0 = spiral.y0.to(torch::kFloat64);
  const auto sol = dd::ode::solve(spiral.net, y0, spiral.ts, spiral.options);
  const auto reference =
      dd::ode::solve(spiral.net, y0, spiral.ts, SolveOptions(spiral.options).rtol(1e-10).atol(1e-12));
  EXPECT_LE(sol.stats->nfe, 140);
  EXPECT_LE((sol.ys[-1] - reference.ys[-1]).abs().max().item<double>(), 3.6215e-3);
}

// The benchmarks' spiral takes core::tanh (a few ulp from LibTorch's): its y(T) is as accurate
// as with LibTorch's tanh (both 3.4e-5 from a float64 solve at rtol 1e-12: the solver's error).
TEST(StepControl, TheSpiralWithCoreTanhIsAsAccurateAsWithLibTorchsTanh) {
  torch::NoGradGuard no_grad;
  SpiralProblem ours, theirs(SpiralKernels::LibTorch);
  const auto a = dd::ode::solve(ours.net, ours.y0, ours.ts, ours.options).ys[-1];
  const auto b = dd::ode::solve(theirs.net, theirs.y0, theirs.ts, theirs.options).ys[-1];
  theirs.net->to(torch::kFloat64);
  const auto exact = dd::ode::solve(theirs.net, theirs.y0.to(torch::kFloat64), theirs.ts,
                                    SolveOptions(theirs.options).rtol(1e-12).atol(1e-14))
                         .ys[-1];
  auto error = [&](const torch::Tensor& y) {
    return ((y.to(torch::kFloat64) - exact).norm() / exact.norm()).item<double>();
  };
  EXPECT_LE(error(a), 1.1 * error(b));
  EXPECT_LE(error(a), 5e-5);
}

// PI (Hairer's beta1 0.7, beta2 0.4) and PID gains are options; every choice meets the tolerance.
TEST(StepControl, PiAndPidGainsAreOptionsThatMeetTheTolerance) {
  const auto problem = dd::testing::linear_ode(torch::kFloat64);
  const auto ts = torch::linspace(1, 8, 10, torch::kFloat64);
  const auto exact = problem.exact(ts);
  auto options = SolveOptions().rtol(1e-8).atol(1e-8);
  const auto i_only = dd::ode::solve(problem.field, exact[0], ts, options);
  const auto pi = dd::ode::solve(problem.field, exact[0], ts,
                                 SolveOptions(options).step_control(dd::ode::StepControl().pcoeff(0.4).icoeff(0.3)));
  const auto pid =
      dd::ode::solve(problem.field, exact[0], ts,
                     SolveOptions(options).step_control(dd::ode::StepControl().pcoeff(0.2).icoeff(0.5).dcoeff(0.1)));
  for (const auto* sol : {&i_only, &pi, &pid}) EXPECT_LT(dd::testing::max_relative_error(exact, sol->ys), 1e-6);
  EXPECT_NE(pi.stats->nfe, i_only.stats->nfe);
  EXPECT_NE(pid.stats->nfe, pi.stats->nfe);
  EXPECT_NE(pid.stats->nfe, i_only.stats->nfe);
}

// A tuple of a hard one-element component and a 999-element one the method integrates exactly:
// the RMS over the whole state dilutes the hard component's error by sqrt(1000), torchdiffeq's
// norm (the largest per-component RMS) does not, and so controls it to the tolerance.
TEST(StepControl, MaxComponentRmsNormControlsEachComponentOfATupleOnItsOwn) {
  dd::ode::TupleField field = [](const torch::Tensor& t, const std::vector<torch::Tensor>& s) {
    return std::vector<torch::Tensor>{torch::cos(10 * t).expand_as(s[0]) * 10, torch::zeros_like(s[1])};
  };
  const std::vector<torch::Tensor> y0{torch::zeros({1}, torch::kFloat64), torch::ones({999}, torch::kFloat64)};
  const auto ts = torch::tensor({0.0, 5.0}, torch::kFloat64);
  const double exact = std::sin(50.0);
  auto options = SolveOptions().rtol(1e-6).atol(1e-6);
  const auto rms = dd::ode::solve(field, y0, ts, options);
  const auto max_rms =
      dd::ode::solve(field, y0, ts, SolveOptions(options).error_norm(dd::ode::ErrorNorm::MaxComponentRms));
  EXPECT_GT(max_rms.stats->nfe, rms.stats->nfe);
  const double rms_error = std::abs(rms.ys[0][-1].item<double>() - exact);
  const double max_rms_error = std::abs(max_rms.ys[0][-1].item<double>() - exact);
  EXPECT_LT(max_rms_error, 1e-5);
  EXPECT_LT(max_rms_error, rms_error);
  // On a single tensor the two norms are the same norm.
  auto single = [&](dd::ode::ErrorNorm norm) {
    return dd::ode::solve(
               [](const torch::Tensor& t, const torch::Tensor& y) { return torch::cos(10 * t).expand_as(y); },
               torch::zeros({3}, torch::kFloat64), ts, SolveOptions(options).error_norm(norm))
        .stats->nfe;
  };
  EXPECT_EQ(single(dd::ode::ErrorNorm::MaxComponentRms), single(dd::ode::ErrorNorm::Rms));
}

// Scalar tolerances on a contiguous CPU state take the error norm's one-pass kernel; the same
// tolerances given per component take LibTorch's operations. Both compute the same norm, so they
// take the same steps, with and without an uncontrolled component (the mask), on a state whose
// size is no multiple of the kernel's block. In float32 LibTorch sums the squares in float32 (a
// BLAS dot), the kernel in float64: the norms differ in their seventh digit, which moved 6 of 626
// evaluations with OpenBLAS and 18 with the wheel's MKL, and the states by the tolerance.
TEST(StepControl, TheErrorNormsKernelTakesTheStepsOfLibTorchsOperations) {
  dd::ode::TupleField field = [](const torch::Tensor& t, const std::vector<torch::Tensor>& s) {
    // The second component oscillates fast: uncontrolled, it would no longer limit the step.
    return std::vector<torch::Tensor>{torch::tanh(s[0].roll(1, 1)) - 0.3 * s[0], torch::cos(20 * t) * 5 + 0 * s[1]};
  };
  const auto ts = torch::tensor({0.0, 0.7, 3.0}, torch::kFloat64);
  for (const auto dtype : {torch::kFloat32, torch::kFloat64}) {
    torch::manual_seed(2);
    const std::vector<torch::Tensor> y0{torch::randn({61, 3}, dtype), torch::zeros({5}, dtype)};
    const bool exact = dtype == torch::kFloat64;
    const double tolerance = exact ? 1e-12 : 1e-4;
    std::vector<int64_t> nfe;
    for (const bool masked : {false, true}) {
      auto scalar = SolveOptions().rtol(1e-6).atol(1e-8);
      if (masked) scalar.error_control({true, false});
      const auto per_component = SolveOptions(scalar).rtol({1e-6, 1e-6}).atol({1e-8, 1e-8});
      const auto kernel = dd::ode::solve(field, y0, ts, scalar);
      const auto operations = dd::ode::solve(field, y0, ts, per_component);
      // float32: LibTorch's dot (OpenBLAS or MKL) sums the squares in float32, and the norms' last
      // digits move the steps by a few percent either way; only the states are compared there.
      if (exact) EXPECT_EQ(kernel.stats->nfe, operations.stats->nfe) << "masked " << masked;
      nfe.push_back(kernel.stats->nfe);
      // The uncontrolled component's large error moves with the last bits of the step sizes.
      const size_t compared = masked ? 1 : y0.size();
      for (size_t i = 0; i < compared; ++i)
        EXPECT_TRUE(torch::allclose(kernel.ys[i], operations.ys[i], tolerance, tolerance))
            << dtype << " masked " << masked << " component " << i;
    }
    EXPECT_LT(nfe[1], nfe[0]) << "the fast component no longer limits the step";
  }
}

}  // namespace
