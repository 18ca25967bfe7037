// core::mlp's fused kernels against mlp_reference (LibTorch operations): values, gradients for
// the input and every weight and bias, higher derivatives, every activation, input transform and
// floating dtype, and the activations themselves against float64 LibTorch to a few ulp.
#include <deepdyn/core/mlp.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <tuple>
#include <vector>

namespace core = deepdyn::core;

namespace {

const std::vector<core::Activation> kActivations = {core::Activation::Tanh, core::Activation::Softplus,
                                                    core::Activation::Sigmoid, core::Activation::Elu,
                                                    core::Activation::Identity};

bool cpu_has_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

struct Network {
  std::vector<torch::Tensor> weights, biases;

  // Widths in -> hidden... -> out (7 -> 5 unless given) with weights large enough that every
  // activation leaves its linear part (softplus past its threshold of 20 too, for some units).
  Network(int64_t in, int64_t out, torch::Dtype dtype, std::vector<int64_t> hidden = {7, 5}) {
    std::vector<int64_t> widths = {in};
    widths.insert(widths.end(), hidden.begin(), hidden.end());
    widths.push_back(out);
    for (size_t i = 0; i + 1 < widths.size(); ++i) {
      weights.push_back((torch::randn({widths[i + 1], widths[i]}, dtype) * 3).requires_grad_());
      biases.push_back(torch::randn({widths[i + 1]}, dtype).requires_grad_());
    }
  }
  std::vector<torch::Tensor> parameters() const {
    auto all = weights;
    all.insert(all.end(), biases.begin(), biases.end());
    return all;
  }
};

std::string label(core::Activation activation, torch::Dtype dtype, core::MLPInput input) {
  return core::activation_name(activation) + (dtype == torch::kFloat32 ? " float32" : " float64") +
         (input == core::MLPInput::Cube ? " cube" : "");
}

}  // namespace

TEST(FusedMLP, ValuesAndGradientsMatchLibTorchForEveryActivationDtypeAndInput) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64})
    for (const auto input : {core::MLPInput::Identity, core::MLPInput::Cube})
      for (const auto activation : kActivations) {
        torch::manual_seed(static_cast<int>(activation));
        const Network net(3, 2, dtype);
        const auto x = (torch::randn({2, 17, 3}, dtype) * 2).requires_grad_();  // leading dims flattened
        ASSERT_EQ(core::mlp_is_fused(x, net.weights, net.biases), cpu_has_avx2_fma());
        const auto fused = core::mlp(x, net.weights, net.biases, activation, input);
        const auto reference = core::mlp_reference(x, net.weights, net.biases, activation, input);
        ASSERT_EQ(fused.sizes(), reference.sizes());
        const double tol = dtype == torch::kFloat32 ? 2e-5 : 1e-12;
        const double scale = reference.abs().max().item<double>();
        EXPECT_LE((fused - reference).abs().max().item<double>(), tol * scale) << label(activation, dtype, input);

        // Vector-Jacobian products for x and every parameter, against LibTorch's autograd.
        const auto v = torch::randn_like(reference);
        auto inputs = net.parameters();
        inputs.insert(inputs.begin(), x);
        const auto ours = torch::autograd::grad({fused}, inputs, {v});
        const auto theirs = torch::autograd::grad({reference}, inputs, {v});
        for (size_t i = 0; i < inputs.size(); ++i) {
          ASSERT_EQ(ours[i].sizes(), inputs[i].sizes());
          const double g_scale = theirs[i].abs().max().item<double>() + 1e-30;
          EXPECT_LE((ours[i] - theirs[i]).abs().max().item<double>(), 10 * tol * g_scale)
              << label(activation, dtype, input) << " gradient " << i;
        }
      }
}

// A narrow network (one hidden layer, at most four inputs and outputs: a low-dimensional state's
// field) runs on kernels of its own, a block of rows at a time; batches that do not fill the last
// block, and every input and output width up to four.
TEST(FusedMLP, NarrowNetworksMatchLibTorchForEveryActivationDtypeAndWidth) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64})
    for (const auto activation : kActivations)
      for (const auto& [in, out, rows] : {std::tuple{2, 2, 1024}, {1, 3, 130}, {4, 1, 33}, {3, 4, 64}}) {
        torch::manual_seed(in * 10 + out);
        std::vector<torch::Tensor> weights = {(torch::randn({50, in}, dtype) * 1.5).requires_grad_(),
                                              (torch::randn({out, 50}, dtype) / 7).requires_grad_()};
        std::vector<torch::Tensor> biases = {torch::randn({50}, dtype).requires_grad_(),
                                             torch::randn({out}, dtype).requires_grad_()};
        const auto x = torch::randn({rows, in}, dtype).requires_grad_();
        const auto v = torch::randn({rows, out}, dtype);
        std::vector<torch::Tensor> inputs = {x, weights[0], weights[1], biases[0], biases[1]};
        const auto input = out % 2 ? core::MLPInput::Identity : core::MLPInput::Cube;
        const auto what = label(activation, dtype, input) + " " + std::to_string(in) + " -> 50 -> " +
                          std::to_string(out) + ", " + std::to_string(rows) + " rows";
        const auto fused = core::mlp(x, weights, biases, activation, input);
        const auto reference = core::mlp_reference(x, weights, biases, activation, input);
        const double tol = dtype == torch::kFloat32 ? 2e-6 : 1e-13;
        {
          torch::NoGradGuard no_grad;  // the value alone takes the same kernels
          EXPECT_TRUE(torch::equal(core::mlp(x, weights, biases, activation, input), fused)) << what;
        }
        EXPECT_LE((fused - reference).abs().max().item<double>(), tol * reference.abs().max().item<double>()) << what;
        const auto ours = torch::autograd::grad({fused}, inputs, {v});
        const auto theirs = torch::autograd::grad({reference}, inputs, {v});
        for (size_t i = 0; i < inputs.size(); ++i)
          EXPECT_LE((ours[i] - theirs[i]).abs().max().item<double>(), 10 * tol * theirs[i].abs().max().item<double>())
              << what << " gradient " << i;
      }
}

// mlp_vjp, which solvers call without autograd: its products against autograd's through
// mlp_reference, added into accumulators that already hold a value (one of them a non-contiguous
// view), and its value equal to mlp()'s; for deep and narrow networks.
TEST(FusedMLP, VJPWithoutAutogradAddsAutogradsProductsIntoItsAccumulators) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64})
    for (const auto activation : kActivations)
      for (const auto& hidden : {std::vector<int64_t>{7, 5}, std::vector<int64_t>{50}}) {
        torch::manual_seed(static_cast<int>(activation));
        const Network net(2, 2, dtype, hidden);
        const auto x = torch::randn({3, 70, 2}, dtype).requires_grad_();
        const auto input = hidden.size() == 1 ? core::MLPInput::Cube : core::MLPInput::Identity;
        const auto what = label(activation, dtype, input) + (hidden.size() == 1 ? " narrow" : " deep");
        const auto reference = core::mlp_reference(x, net.weights, net.biases, activation, input);
        const auto v = torch::randn_like(reference);
        auto inputs = net.parameters();
        inputs.insert(inputs.begin(), x);
        const auto theirs = torch::autograd::grad({reference}, inputs, {v});

        std::vector<torch::Tensor> weight_sums, bias_sums;
        for (const auto& w : net.weights) weight_sums.push_back(torch::ones_like(w).detach());
        weight_sums[0] = torch::ones({net.weights[0].size(1), net.weights[0].size(0)}, dtype).t();  // strided
        for (const auto& b : net.biases) bias_sums.push_back(torch::ones_like(b).detach());
        torch::Tensor value;
        const auto gx = core::mlp_vjp(x, net.weights, net.biases, activation, input, v, weight_sums, bias_sums, &value);
        EXPECT_FALSE(gx.requires_grad() || value.requires_grad()) << what;
        {
          torch::NoGradGuard no_grad;
          EXPECT_TRUE(torch::equal(value, core::mlp(x, net.weights, net.biases, activation, input))) << what;
        }
        auto ours = weight_sums;
        ours.insert(ours.end(), bias_sums.begin(), bias_sums.end());
        for (auto& sum : ours) sum = sum - 1;
        ours.insert(ours.begin(), gx);
        const double tol = dtype == torch::kFloat32 ? 2e-4 : 1e-11;
        for (size_t i = 0; i < inputs.size(); ++i) {
          ASSERT_EQ(ours[i].sizes(), inputs[i].sizes()) << what << " gradient " << i;
          EXPECT_LE((ours[i] - theirs[i]).abs().max().item<double>(), tol * (1 + theirs[i].abs().max().item<double>()))
              << what << " gradient " << i;
        }
      }
}

// What ode::solve's direct gradient asks for: the backward recomputes the hidden layers instead of
// reading them from the node, and must give the stored ones' gradients to the last bit; for a
// deep network and a narrow one.
TEST(FusedMLP, RecomputedActivationsGiveTheSameGradientsBitForBit) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64})
    for (const auto activation : kActivations)
      for (const auto& hidden : {std::vector<int64_t>{7, 5}, std::vector<int64_t>{40}}) {
        torch::manual_seed(static_cast<int>(activation));
        const Network net(3, 2, dtype, hidden);
        const auto x = (torch::randn({99, 3}, dtype) * 2).requires_grad_();
        const auto v = torch::randn({99, 2}, dtype);
        auto inputs = net.parameters();
        inputs.insert(inputs.begin(), x);
        const auto stored = torch::autograd::grad(
            {core::mlp(x, net.weights, net.biases, activation, core::MLPInput::Cube)}, inputs, {v});
        torch::Tensor y;
        {
          core::RecomputeActivationsGuard outer;
          { core::RecomputeActivationsGuard inner; }  // leaving a nested guard keeps the outer one's setting
          y = core::mlp(x, net.weights, net.biases, activation, core::MLPInput::Cube);
        }
        const auto recomputed = torch::autograd::grad({y}, inputs, {v});
        for (size_t i = 0; i < inputs.size(); ++i)
          EXPECT_TRUE(torch::equal(recomputed[i], stored[i]))
              << label(activation, dtype, core::MLPInput::Cube) << " hidden layers " << hidden.size() << " gradient "
              << i;
      }
}

TEST(FusedMLP, SecondDerivativesThroughItsBackwardAreLibTorchs) {
  // create_graph, as Hutchinson's trace estimator needs: d/dW of e^T (df/dx) e.
  torch::manual_seed(3);
  const Network net(4, 4, torch::kFloat64);
  const auto x = torch::randn({6, 4}, torch::kFloat64).requires_grad_();
  const auto e = torch::randn({6, 4}, torch::kFloat64);
  auto trace_gradient = [&](auto&& f) {
    const auto y = f(x, net.weights, net.biases, core::Activation::Softplus, core::MLPInput::Identity);
    const auto vjp = torch::autograd::grad({y}, {x}, {e}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    return torch::autograd::grad({(vjp * e).sum()}, net.weights);
  };
  const auto ours = trace_gradient(core::mlp);
  const auto theirs = trace_gradient(core::mlp_reference);
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_GT(theirs[i].abs().max().item<double>(), 0.0);
    EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-10, 1e-12)) << "layer " << i;
  }
}

namespace {

/// The divergence and Frobenius estimates from mlp_reference's Jacobian rows by reverse mode: an
/// oracle independent of mlp_divergence's forward mode, differentiable (create_graph). The
/// Jacobian is the block of the last `out` inputs.
core::MLPDivergence divergence_by_rows(const torch::Tensor& x, const Network& net, core::Activation activation,
                                       core::MLPInput input, const torch::Tensor& probe) {
  const auto y = core::mlp_reference(x, net.weights, net.biases, activation, input);
  std::vector<torch::Tensor> rows;  // rows[i][b] = d y_i / d x at sample b
  for (int64_t i = 0; i < y.size(1); ++i)
    rows.push_back(torch::autograd::grad({y.select(1, i).sum()}, {x}, {}, /*retain_graph=*/true, true)[0]);
  const int64_t out = y.size(1), in = x.size(1);
  const auto jacobian = torch::stack(rows, 1).narrow(2, in - out, out);  // [batch, out, out]
  if (!probe.defined()) return {y, torch::diagonal(jacobian, 0, 1, 2).sum(1), jacobian.square().sum({1, 2})};
  const auto jv = torch::matmul(jacobian, probe.unsqueeze(2)).squeeze(2);
  return {y, (jv * probe).sum(1), jv.square().sum(1)};
}

}  // namespace

// A field with its divergence (forward mode, one node, fused backward with the activations' second
// derivatives) against reverse-mode Jacobians of the reference: values, and the gradients of a loss
// on all three outputs for x and every parameter. Square networks (a CNF's field) and a 5 -> 3 one,
// whose Jacobian block is that of the last 3 inputs (ODE2VAE's df/dv).
TEST(FusedMLPDivergence, MatchesReverseModeJacobiansForEveryActivationDtypeInputAndEstimator) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64})
    for (const auto input : {core::MLPInput::Identity, core::MLPInput::Cube})
      for (const auto activation : kActivations)
        for (const bool exact : {true, false})
          for (const int64_t in : {3, 5}) {
            torch::manual_seed(10 + static_cast<int>(activation));
            const Network net(in, 3, dtype);
            const auto x = torch::randn({13, in}, dtype).requires_grad_();
            const auto probe = exact ? torch::Tensor() : torch::randn({13, 3}, dtype);
            const auto ours = core::mlp_divergence(x, net.weights, net.biases, activation, input, probe);
            const auto theirs = divergence_by_rows(x, net, activation, input, probe);
            const std::string what = label(activation, dtype, input) + (exact ? " exact" : " hutchinson") + " " +
                                     std::to_string(in) + " -> 3";
            const double tol = dtype == torch::kFloat32 ? 3e-5 : 1e-11;
            auto expect_close = [&](const torch::Tensor& a, const torch::Tensor& b, double rel,
                                    const std::string& name) {
              ASSERT_EQ(a.sizes(), b.sizes()) << what << " " << name;
              const double scale = b.abs().max().item<double>() + 1e-30;
              EXPECT_LE((a - b).abs().max().item<double>(), rel * scale) << what << " " << name;
            };
            expect_close(ours.value, theirs.value, tol, "value");
            expect_close(ours.divergence, theirs.divergence, tol, "divergence");
            expect_close(ours.frobenius, theirs.frobenius, tol, "frobenius");

            const auto cv = torch::randn({13, 3}, dtype), cd = torch::randn({13}, dtype),
                       cf = torch::randn({13}, dtype);
            auto loss = [&](const core::MLPDivergence& o) {
              return (o.value * cv).sum() + (o.divergence * cd).sum() + (o.frobenius * cf).sum();
            };
            auto inputs = net.parameters();
            inputs.insert(inputs.begin(), x);
            const auto g_ours = torch::autograd::grad({loss(ours)}, inputs);
            const auto g_theirs = torch::autograd::grad({loss(theirs)}, inputs);
            for (size_t i = 0; i < inputs.size(); ++i)
              expect_close(g_ours[i], g_theirs[i], 10 * tol, "gradient " + std::to_string(i));
          }
}

// mlp_divergence_vjp, which solvers call without autograd, against autograd through the fused
// node: every cotangent at once, exact trace and Hutchinson, the value beside it, square and 5 -> 3.
TEST(FusedMLPDivergence, VJPWithoutAutogradIsTheNodesBackward) {
  for (const auto dtype : {torch::kFloat32, torch::kFloat64})
    for (const bool exact : {true, false})
      for (const int64_t in : {3, 5}) {
        torch::manual_seed(exact);
        const Network net(in, 3, dtype);
        const auto x = torch::randn({2, 9, in}, dtype).requires_grad_();
        const auto probe = exact ? torch::Tensor() : torch::randn({2, 9, 3}, dtype);
        const auto out =
            core::mlp_divergence(x, net.weights, net.biases, core::Activation::Tanh, core::MLPInput::Identity, probe);
        const core::MLPDivergence cotangents{torch::randn_like(out.value), torch::randn_like(out.divergence),
                                             torch::randn_like(out.frobenius)};
        auto inputs = net.parameters();
        inputs.insert(inputs.begin(), x);
        const auto theirs = torch::autograd::grad({out.value, out.divergence, out.frobenius}, inputs,
                                                  {cotangents.value, cotangents.divergence, cotangents.frobenius});
        std::vector<torch::Tensor> weight_sums, bias_sums;
        for (const auto& w : net.weights) weight_sums.push_back(torch::zeros_like(w).detach());
        for (const auto& b : net.biases) bias_sums.push_back(torch::zeros_like(b).detach());
        // Accumulators the kernels cannot add into directly: a transposed view, a strided slice.
        weight_sums[0] = torch::zeros({net.weights[0].size(1), net.weights[0].size(0)}, dtype).t();
        bias_sums[0] = torch::zeros({2 * net.biases[0].size(0)}, dtype).slice(0, 0, c10::nullopt, 2);
        core::MLPDivergence value;
        const auto gx =
            core::mlp_divergence_vjp(x, net.weights, net.biases, core::Activation::Tanh, core::MLPInput::Identity,
                                     probe, cotangents, weight_sums, bias_sums, &value);
        auto ours = weight_sums;
        ours.insert(ours.end(), bias_sums.begin(), bias_sums.end());
        ours.insert(ours.begin(), gx);
        const auto what = std::string(exact ? "exact " : "hutchinson ") +
                          (dtype == torch::kFloat32 ? "float32 " : "float64 ") + std::to_string(in) + " -> 3";
        EXPECT_TRUE(torch::equal(value.value, out.value.detach()) &&
                    torch::equal(value.divergence, out.divergence.detach()))
            << what;
        for (size_t i = 0; i < inputs.size(); ++i)
          EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-5, 1e-6)) << what << " gradient " << i;
      }
}

TEST(FusedMLPDivergence, LeadingDimensionsSecondDerivativesAndBadShapes) {
  torch::manual_seed(4);
  const Network net(2, 2, torch::kFloat64, {6});
  const auto x = torch::randn({3, 5, 2}, torch::kFloat64).requires_grad_();
  const auto out = core::mlp_divergence(x, net.weights, net.biases, core::Activation::Tanh);
  ASSERT_EQ(out.value.sizes(), x.sizes());
  ASSERT_EQ(out.divergence.sizes(), torch::IntArrayRef({3, 5}));
  const auto flat = core::mlp_divergence(x.reshape({15, 2}), net.weights, net.biases, core::Activation::Tanh);
  EXPECT_TRUE(torch::allclose(out.divergence.reshape({15}), flat.divergence, 1e-14, 0));

  // A backward differentiated again (create_graph) runs the reference's graph: d/dW of d tr J / dx.
  auto second = [&](auto&& f) {
    const auto o = f(x, net.weights, net.biases, core::Activation::Sigmoid, core::MLPInput::Cube, torch::Tensor());
    const auto gx = torch::autograd::grad({o.divergence.sum()}, {x}, {}, /*retain_graph=*/true, true)[0];
    return torch::autograd::grad({gx.square().sum()}, net.weights);
  };
  const auto ours = second(core::mlp_divergence), theirs = second(core::mlp_divergence_reference);
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_GT(theirs[i].abs().max().item<double>(), 0.0);
    EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-10, 1e-12)) << "layer " << i;
  }

  const Network wide(2, 3, torch::kFloat32);
  try {
    core::mlp_divergence(torch::randn({4, 2}), wide.weights, wide.biases, core::Activation::Tanh);
    FAIL() << "a 2 -> 3 network was given a divergence";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("at most as many outputs as inputs"), std::string::npos) << e.what();
  }
  const Network square(2, 2, torch::kFloat32);
  try {
    core::mlp_divergence(torch::randn({4, 2}), square.weights, square.biases, core::Activation::Tanh,
                         core::MLPInput::Identity, torch::randn({5, 2}));
    FAIL() << "a probe of another shape was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("the probe must have the output's shape [4, 2]"), std::string::npos)
        << e.what();
  }
}

TEST(FusedMLP, ActivationsAreWithinAFewUlpOfFloat64LibTorch) {
  // Identity weights make the network act(x) exactly up to the activation itself.
  for (const auto dtype : {torch::kFloat32, torch::kFloat64})
    for (const auto activation : kActivations) {
      const int64_t n = 64;
      const auto eye = torch::eye(n, dtype);
      const auto zero = torch::zeros({n}, dtype);
      const auto x = torch::linspace(-30, 30, 64 * 257, torch::kFloat64).reshape({-1, n}).to(dtype).to(torch::kFloat64);
      const auto ours = core::mlp(x.to(dtype), {eye, eye}, {zero, zero}, activation);
      // LibTorch's elu computes e^x - 1, which loses digits near 0 in float64: expm1 is the exact one.
      const auto exact =
          activation == core::Activation::Elu ? torch::where(x > 0, x, torch::expm1(x)) : core::activate(activation, x);
      const double eps = dtype == torch::kFloat32 ? std::ldexp(1.0, -23) : std::ldexp(1.0, -52);
      const auto spacing = (exact.abs() * eps).clamp_min(dtype == torch::kFloat32 ? 1e-38 : 1e-300);
      const double ulps = ((ours.to(torch::kFloat64) - exact).abs() / spacing).max().item<double>();
      EXPECT_LE(ulps, 4.0) << core::activation_name(activation) << (dtype == torch::kFloat32 ? " float32" : " float64");
    }
}

TEST(FusedMLP, OtherTensorsTakeTheReferenceAndBadShapesAreRefused) {
  const Network net(3, 2, torch::kFloat32);
  EXPECT_FALSE(core::mlp_is_fused(torch::randn({4, 3}, torch::kFloat64), net.weights, net.biases));  // mixed dtypes
  EXPECT_FALSE(core::mlp_is_fused(torch::randn({4, 3}).to(torch::kBFloat16), net.weights, net.biases));
  try {
    core::mlp(torch::randn({4, 5}), net.weights, net.biases, core::Activation::Tanh);
    FAIL() << "a 5-feature input to a 3-feature layer was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0 takes 5 features"), std::string::npos) << e.what();
  }
  try {
    core::mlp(torch::randn({4, 3}), net.weights, {net.biases[0]}, core::Activation::Tanh);
    FAIL() << "a missing bias was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("one bias per weight"), std::string::npos) << e.what();
  }
}

TEST(Activations, SlopesAreTheDerivativesOfTheActivations) {
  const auto x = torch::linspace(-25, 25, 1001, torch::kFloat64).requires_grad_();
  for (const auto activation : kActivations) {
    const auto y = core::activate(activation, x);
    const auto slope = torch::autograd::grad({y.sum()}, {x})[0];
    EXPECT_TRUE(torch::allclose(core::activation_slope(activation, x.detach()), slope, 1e-12, 1e-14))
        << core::activation_name(activation);
  }
}
