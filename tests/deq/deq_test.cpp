// The DEQ layer: implicit gradients against central finite differences and against backprop through
// unrolled Picard iterations; the one-step and phantom gradients; the Jacobian diagnostics.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include "deq/maps.h"
#include "support/finite_differences.h"

namespace dd = deepdyn;
using dd::deq::Broyden;
using dd::deq::DEQ;
using dd::deq::DEQOptions;
using dd::deq::FixedPointOptions;
using dd::testing::TanhCell;

namespace {

constexpr int64_t kBatch = 4;

DEQOptions tight_options() {
  return DEQOptions()
      .forward(FixedPointOptions(Broyden()).tol(1e-14).max_iterations(200))
      .backward(dd::deq::Implicit(FixedPointOptions(Broyden()).tol(1e-14).max_iterations(200)));
}

struct Problem {
  std::shared_ptr<TanhCell> cell = std::make_shared<TanhCell>(0.9);
  torch::Tensor x = torch::randn({kBatch, 32}, torch::kFloat64);
  torch::Tensor z0 = torch::zeros({kBatch, 64}, torch::kFloat64);

  dd::deq::DEQFunction function() const {
    return [cell = cell](const torch::Tensor& z, const torch::Tensor& x) { return cell->forward(z, x); };
  }
  // L = sum(z*^2) and its gradients w.r.t. W, U, b and x under the given backward mode.
  std::vector<torch::Tensor> gradients(const DEQOptions& options, dd::deq::DEQOutput* output = nullptr) const {
    DEQ deq(function(), options);
    auto input = x.clone().requires_grad_(true);
    auto out = deq(input, z0);
    auto loss = out.z.pow(2).sum();
    auto grads = torch::autograd::grad({loss}, {cell->w, cell->u, cell->b, input});
    if (output) *output = out;
    return grads;
  }
  double loss() const {
    torch::NoGradGuard no_grad;
    DEQ deq(function(), tight_options());
    auto out = deq(x, z0);
    EXPECT_EQ(out.stats->termination, dd::core::Termination::Success) << out.stats->message;
    return out.z.pow(2).sum().item<double>();
  }
};

// A float32 cell as a module: its parameters must become the DEQ's.
struct CellImpl : torch::nn::Module {
  torch::nn::Linear w{nullptr}, u{nullptr};
  CellImpl() {
    w = register_module("w", torch::nn::Linear(torch::nn::LinearOptions(8, 8).bias(false)));
    u = register_module("u", torch::nn::Linear(3, 8));
  }
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& x) { return torch::tanh(0.5 * w(z) + u(x)); }
};
TORCH_MODULE(Cell);

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

}  // namespace

TEST(DEQ, ImplicitGradientsMatchCentralFiniteDifferences) {
  Problem problem;
  dd::deq::DEQOutput out;
  auto grads = problem.gradients(tight_options(), &out);
  EXPECT_EQ(out.stats->termination_backward, dd::core::Termination::Success) << out.stats->message_backward;
  EXPECT_GT(out.stats->steps_backward, 0);
  std::cout << "[ deq      ] forward " << out.stats->steps << " iterations, backward " << out.stats->steps_backward
            << " iterations\n";

  // Directional derivatives along random directions: (L(p + hV) - L(p - hV)) / 2h vs <grad, V>.
  std::vector<torch::Tensor> leaves = {problem.cell->w, problem.cell->u, problem.cell->b, problem.x};
  const char* names[] = {"W", "U", "b", "x"};
  const double h = 1e-4;
  for (size_t i = 0; i < leaves.size(); ++i) {
    for (int direction = 0; direction < 3; ++direction) {
      auto v = torch::randn_like(leaves[i]);
      v /= v.norm();
      const double fd = dd::testing::central_difference(
          [&](double offset) {
            torch::NoGradGuard no_grad;
            leaves[i].add_(v, offset);
            const double value = problem.loss();
            leaves[i].sub_(v, offset);
            return value;
          },
          h);
      double analytic = (grads[i] * v).sum().item<double>();
      EXPECT_NEAR(analytic, fd, 1e-6 * std::abs(fd)) << names[i] << " direction " << direction;
    }
  }
}

TEST(DEQ, ImplicitGradientsMatchBackpropThroughUnrolledPicard) {
  Problem problem;
  auto implicit = problem.gradients(tight_options());

  auto input = problem.x.clone().requires_grad_(true);
  auto z = problem.z0;
  for (int k = 0; k < 200; ++k) z = problem.cell->forward(z, input);
  auto unrolled = torch::autograd::grad({z.pow(2).sum()}, {problem.cell->w, problem.cell->u, problem.cell->b, input});
  for (size_t i = 0; i < implicit.size(); ++i) EXPECT_LT(relative_error(implicit[i], unrolled[i]), 1e-6) << i;
}

TEST(DEQ, EveryBackwardSolverGivesTheSameImplicitGradient) {
  Problem problem;
  auto reference = problem.gradients(tight_options());
  for (dd::deq::Method method : {dd::deq::Method(dd::deq::Picard()), dd::deq::Method(dd::deq::Anderson())}) {
    auto options =
        tight_options().backward(dd::deq::Implicit(FixedPointOptions(method).tol(1e-12).max_iterations(500)));
    dd::deq::DEQOutput out;
    auto grads = problem.gradients(options, &out);
    EXPECT_EQ(out.stats->termination_backward, dd::core::Termination::Success)
        << dd::deq::method_name(method) << ": " << out.stats->message_backward;
    for (size_t i = 0; i < grads.size(); ++i) EXPECT_LT(relative_error(grads[i], reference[i]), 1e-9);
  }
}

TEST(DEQ, PhantomGradientApproachesImplicitAndJacobianFreeDescends) {
  Problem problem;
  auto implicit = problem.gradients(tight_options());
  // Phantom{k, tau = 1} is the Neumann series of (I - J)^{-1} cut after k terms.
  auto phantom = problem.gradients(tight_options().backward(dd::deq::Phantom().steps(150).tau(1.0)));
  for (size_t i = 0; i < implicit.size(); ++i) EXPECT_LT(relative_error(phantom[i], implicit[i]), 1e-6) << i;
  auto short_phantom = problem.gradients(tight_options().backward(dd::deq::Phantom().steps(3).tau(0.5)));
  // The one-step gradient drops (I - J)^{-1} but stays a descent direction for a contraction.
  auto one_step = problem.gradients(tight_options().backward(dd::deq::JacobianFree()));
  for (size_t i = 0; i < implicit.size(); ++i) {
    EXPECT_GT((one_step[i] * implicit[i]).sum().item<double>(), 0) << i;
    EXPECT_GT((short_phantom[i] * implicit[i]).sum().item<double>(), 0) << i;
    EXPECT_GT(relative_error(one_step[i], implicit[i]), 1e-3) << "the one-step gradient is an approximation";
  }
}

TEST(DEQ, ModuleHolderRegistersTheFunctionsParameters) {
  DEQ deq{Cell(), DEQOptions()};
  EXPECT_EQ(deq->parameters().size(), 3u);
  auto out = deq(torch::randn({5, 3}), torch::zeros({5, 8}));
  EXPECT_EQ(out.stats->termination, dd::core::Termination::Success) << out.stats->message;
  out.z.sum().backward();
  for (const auto& p : deq->parameters()) EXPECT_TRUE(p.grad().defined());
}

TEST(DEQ, RefusesInconsistentOptions) {
  Problem problem;
  EXPECT_THROW(DEQ(problem.function(), DEQOptions().backward(dd::deq::Phantom().tau(0))), c10::Error);
  EXPECT_THROW(DEQ(problem.function(), DEQOptions().backward(dd::deq::Phantom().steps(0))), c10::Error);
  EXPECT_THROW(DEQ(problem.function(), DEQOptions().jacobian_probes(-1)), c10::Error);
  EXPECT_THROW(DEQ(problem.function(), DEQOptions().backward(dd::deq::Implicit(FixedPointOptions().tol(-1)))),
               c10::Error);
  EXPECT_THROW(dd::deq::parse_backward("implict"), c10::Error);
  EXPECT_EQ(dd::deq::backward_name(dd::deq::parse_backward("phantom")), "phantom");
  EXPECT_TRUE(std::holds_alternative<dd::deq::JacobianFree>(dd::deq::parse_backward("jacobian_free")));
  DEQ deq(problem.function());
  EXPECT_THROW(deq(problem.x, torch::zeros({kBatch, 63}, torch::kFloat64)), c10::Error) << "z0 of the wrong width";
}

TEST(Jacobian, HutchinsonEstimatesTheFrobeniusNorm) {
  torch::manual_seed(11);
  auto a = (torch::randn({16, 16}, torch::kFloat64) * 0.3).requires_grad_(true);
  auto z = torch::randn({256, 16}, torch::kFloat64).requires_grad_(true);
  auto fz = torch::matmul(z, a.t());
  auto estimate = dd::deq::jacobian_frobenius(fz, z, /*probes=*/64);
  ASSERT_EQ(estimate.sizes(), (std::vector<int64_t>{256}));
  double exact = a.detach().pow(2).sum().item<double>();
  // 256 x 64 Gaussian probes: the standard error of the mean is about 1% here.
  EXPECT_NEAR(estimate.mean().item<double>(), exact, 0.05 * exact);
  EXPECT_TRUE(estimate.requires_grad()) << "the regularizer must be differentiable w.r.t. f's parameters";
}

TEST(Jacobian, PowerMethodFindsTheSpectralRadius) {
  torch::manual_seed(12);
  auto q = std::get<0>(at::linalg_qr(torch::randn({12, 12}, torch::kFloat64)));
  auto eigenvalues = torch::linspace(0.1, 0.5, 12, torch::kFloat64);
  eigenvalues[11] = -0.8;  // dominant in modulus, negative
  auto a = torch::matmul(q * eigenvalues, q.t());
  auto z = torch::randn({3, 12}, torch::kFloat64).requires_grad_(true);
  auto radius = dd::deq::spectral_radius(torch::matmul(z, a.t()), z, /*iterations=*/200);
  EXPECT_TRUE(torch::allclose(radius, torch::full({3}, 0.8, torch::kFloat64), 0, 1e-8)) << radius;
}

TEST(DEQ, JacobianRegularizerIsReturnedForTheLoss) {
  Problem problem;
  DEQ deq(problem.function(), DEQOptions().jacobian_probes(2));
  auto out = deq(problem.x, problem.z0);
  ASSERT_TRUE(out.jacobian_frobenius.defined());
  EXPECT_EQ(out.jacobian_frobenius.size(0), kBatch);
  auto grads = torch::autograd::grad({out.jacobian_frobenius.mean()}, {problem.cell->w});
  EXPECT_GT(grads[0].norm().item<double>(), 0);
}

// deq::TanhCell gives its own vector-Jacobian product, which DEQ takes for the implicit backward's
// linear system: the same fixed point and the same gradients (to x's injection and to W) as the
// same cell through autograd.
TEST(DEQ, TheFusedCellsVJPGivesAutogradsImplicitGradient) {
  torch::manual_seed(3);
  dd::deq::TanhCell cell(16);
  cell->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    cell->weight.mul_(0.8);
  }
  const auto z = torch::randn({kBatch, 16}, torch::kFloat64).requires_grad_();
  const auto injection = torch::randn({kBatch, 16}, torch::kFloat64);
  const auto fz = cell(z, injection);
  EXPECT_TRUE(torch::allclose(fz, torch::tanh(torch::matmul(z, cell->weight.t()) + injection), 1e-15, 1e-15));
  const auto v = torch::randn_like(fz);
  const auto by_autograd = torch::autograd::grad({fz}, {z}, {v})[0];
  EXPECT_TRUE(torch::allclose(cell->vjp(z.detach(), fz.detach(), v), by_autograd, 1e-13, 1e-14));

  DEQ fused(cell, tight_options());
  ASSERT_TRUE(static_cast<bool>(fused->options().vjp())) << "the cell's vjp was not taken";
  DEQ plain([&](const torch::Tensor& state, const torch::Tensor& u) { return cell(state, u); }, tight_options());
  const auto w = torch::randn({kBatch, 16}, torch::kFloat64);
  auto gradients = [&](DEQ& deq) {
    const auto u = injection.clone().requires_grad_();
    const auto out = deq(u, torch::zeros({kBatch, 16}, torch::kFloat64));
    auto grads = torch::autograd::grad({(out.z * w).sum()}, {u, cell->weight});
    grads.insert(grads.begin(), out.z.detach());
    return grads;
  };
  const auto ours = gradients(fused), theirs = gradients(plain);
  for (size_t i = 0; i < ours.size(); ++i)
    EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-10, 1e-12))
        << "result " << i << ": largest difference " << (ours[i] - theirs[i]).abs().max().item<double>();
}
