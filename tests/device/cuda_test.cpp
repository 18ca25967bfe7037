// Device placement: each layer runs on a GPU with its state, parameters and gradients there, and
// agrees with the same computation on the CPU. Where no GPU is visible (every CI machine of this
// project) the tests are skipped with a message: a CUDA build has then compiled and linked these
// paths, not run them.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include "support/gpu.h"

namespace dd = deepdyn;

namespace {

const torch::Device kGpu(torch::kCUDA, 0);

struct FieldImpl : torch::nn::Module {
  torch::nn::Linear in{nullptr}, out{nullptr};
  FieldImpl() {
    in = register_module("in", torch::nn::Linear(2, 16));
    out = register_module("out", torch::nn::Linear(16, 2));
  }
  torch::Tensor forward(const torch::Tensor& /*t*/, const torch::Tensor& y) { return out(torch::tanh(in(y.pow(3)))); }
};
TORCH_MODULE(Field);

// A field and its copy on the GPU, float64 so that both devices agree to round-off.
std::pair<Field, Field> field_on_both() {
  torch::manual_seed(0);
  Field cpu;
  cpu->to(torch::kFloat64);
  Field gpu;
  gpu->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < cpu->parameters().size(); ++i) gpu->parameters()[i].copy_(cpu->parameters()[i]);
  gpu->to(kGpu);
  return {cpu, gpu};
}

}  // namespace

TEST(Cuda, OdeSolveAndItsGradientsRunOnTheGpuAndMatchTheCpu) {
  DEEPDYN_SKIP_WITHOUT_GPU();
  auto [cpu, gpu] = field_on_both();
  auto y0 = torch::randn({8, 2}, torch::kFloat64) * 0.5;
  auto ts = torch::linspace(0, 2, 5, torch::kFloat64);
  for (const dd::ode::Gradient& gradient : {dd::ode::Gradient(dd::ode::Direct{}), dd::ode::Gradient(dd::ode::Adjoint{})}) {
    auto options = dd::ode::SolveOptions().rtol(1e-9).atol(1e-11).gradient(gradient);
    auto on_cpu = dd::ode::solve(cpu, y0, ts, options);
    auto on_gpu = dd::ode::solve(gpu, y0.to(kGpu), ts.to(kGpu), options);
    ASSERT_TRUE(on_gpu.ys.is_cuda());
    EXPECT_TRUE(torch::allclose(on_gpu.ys.cpu(), on_cpu.ys, 1e-8, 1e-10));
    on_cpu.ys.pow(2).sum().backward();
    on_gpu.ys.pow(2).sum().backward();
    for (size_t i = 0; i < cpu->parameters().size(); ++i) {
      const auto& g = gpu->parameters()[i].grad();
      ASSERT_TRUE(g.is_cuda()) << dd::ode::gradient_name(gradient);
      EXPECT_TRUE(torch::allclose(g.cpu(), cpu->parameters()[i].grad(), 1e-6, 1e-9));
    }
    cpu->zero_grad();
    gpu->zero_grad();
  }
}

TEST(Cuda, DeqFixedPointAndImplicitGradientRunOnTheGpuAndMatchTheCpu) {
  DEEPDYN_SKIP_WITHOUT_GPU();
  torch::manual_seed(0);
  auto w0 = torch::randn({32, 32}, torch::kFloat64);
  auto w_cpu = (w0 * (0.8 / at::linalg_svdvals(w0).max())).requires_grad_();
  auto w_gpu = w_cpu.detach().to(kGpu).requires_grad_();
  auto x = torch::randn({4, 32}, torch::kFloat64);
  auto layer = [](torch::Tensor w) {
    return dd::deq::DEQ([w](const torch::Tensor& z, const torch::Tensor& x) { return torch::tanh(z.mm(w.t()) + x); },
                        dd::deq::DEQOptions().forward(dd::deq::FixedPointOptions(dd::deq::Broyden()).tol(1e-10)));
  };
  auto on_cpu = layer(w_cpu)(x, torch::zeros({4, 32}, torch::kFloat64));
  auto on_gpu = layer(w_gpu)(x.to(kGpu), torch::zeros({4, 32}, torch::kFloat64).to(kGpu));
  ASSERT_TRUE(on_gpu.z.is_cuda());
  EXPECT_TRUE(torch::allclose(on_gpu.z.cpu(), on_cpu.z, 1e-8, 1e-9));
  on_cpu.z.sum().backward();
  on_gpu.z.sum().backward();
  ASSERT_TRUE(w_gpu.grad().is_cuda());
  EXPECT_TRUE(torch::allclose(w_gpu.grad().cpu(), w_cpu.grad(), 1e-5, 1e-7));
}

TEST(Cuda, CnfLogDensityAndSamplesStayOnTheGpuAndMatchTheCpu) {
  DEEPDYN_SKIP_WITHOUT_GPU();
  torch::manual_seed(0);
  auto options = dd::cnf::CNFOptions(2).hidden({16, 16}).solver(dd::ode::SolveOptions().rtol(1e-8).atol(1e-8));
  dd::cnf::CNF cpu(options), gpu(options);
  cpu->to(torch::kFloat64);
  gpu->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : cpu->parameters()) p.copy_(0.3 * torch::randn_like(p));
    for (size_t i = 0; i < cpu->parameters().size(); ++i) gpu->parameters()[i].copy_(cpu->parameters()[i]);
  }
  gpu->to(kGpu);
  auto x = torch::randn({16, 2}, torch::kFloat64);
  auto on_gpu = gpu->log_prob(x.to(kGpu));
  ASSERT_TRUE(on_gpu.is_cuda());
  EXPECT_TRUE(torch::allclose(on_gpu.cpu(), cpu->log_prob(x), 1e-6, 1e-8));
  EXPECT_TRUE(gpu->sample(8).is_cuda());
}
