// TorchScript fields made in Python (tests/fixtures/make_script_fields.py): integrated and
// differentiated (adjoint) like their C++ equivalent; bad files refused with clear errors.
#include <deepdyn/deepdyn.h>
#include <deepdyn/ode/script_field.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "support/error_message.h"

namespace dd = deepdyn;
using dd::testing::error_message;

namespace {

const std::string kFixtures = DEEPDYN_TEST_FIXTURES;

// The C++ twin of the Python Field: W2 tanh(W1 y + b1) + b2 + sin(t) c.
struct FieldImpl : torch::nn::Module {
  FieldImpl() {
    net = register_module("net", torch::nn::Sequential(torch::nn::Linear(3, 16), torch::nn::Tanh(),
                                                       torch::nn::Linear(16, 3)));
    c = register_parameter("c", torch::zeros({3}));
    to(torch::kFloat64);
  }
  torch::Tensor forward(const torch::Tensor& t, const torch::Tensor& y) { return net->forward(y) + torch::sin(t) * c; }
  torch::nn::Sequential net{nullptr};
  torch::Tensor c;
};
TORCH_MODULE(Field);

// A C++ field with the script module's weights, copied by name.
Field twin_of(const dd::ode::ScriptField& script) {
  Field field;
  auto params = field->named_parameters();
  torch::NoGradGuard no_grad;
  for (const auto& [name, value] : script.named_parameters()) {
    TORCH_CHECK(params.contains(name), "the C++ twin has no parameter ", name);
    params[name].copy_(value);
  }
  return field;
}

}  // namespace

TEST(ScriptField, IntegratesLikeItsCppTwin) {
  dd::ode::ScriptField script(kFixtures + "/neural_field.pt");
  auto twin = twin_of(script);
  auto y0 = torch::tensor({{0.5, -1.0, 0.3}, {0.1, 0.2, -0.4}}, torch::kFloat64);
  auto ts = torch::linspace(0, 2, 5, torch::kFloat64);
  const auto options = dd::ode::SolveOptions().rtol(1e-10).atol(1e-10);
  auto from_script = dd::ode::solve(script, y0, ts, options).ys;
  auto from_cpp = dd::ode::solve(twin, y0, ts, options).ys;
  EXPECT_TRUE(torch::allclose(from_script, from_cpp, 0, 1e-9));
  EXPECT_GT((from_script[4] - y0).abs().max().item<double>(), 0.1);  // the field does move the state
}

TEST(ScriptField, ParametersReceiveAdjointGradients) {
  dd::ode::ScriptField script(kFixtures + "/neural_field.pt");
  auto twin = twin_of(script);
  auto y0 = torch::tensor({{0.5, -1.0, 0.3}}, torch::kFloat64);
  auto ts = torch::tensor({0.0, 1.5}, torch::kFloat64);
  const auto options = dd::ode::SolveOptions().rtol(1e-10).atol(1e-10);
  dd::ode::solve(script, y0, ts, dd::ode::SolveOptions(options).gradient(dd::ode::Adjoint{}))
      .ys[1]
      .square()
      .sum()
      .backward();
  dd::ode::solve(twin, y0, ts, options).ys[1].square().sum().backward();
  auto expected = twin->named_parameters();
  for (const auto& [name, value] : script.named_parameters()) {
    ASSERT_TRUE(value.grad().defined()) << name;
    EXPECT_TRUE(torch::allclose(value.grad(), expected[name].grad(), 1e-6, 1e-8)) << name;
  }
}

TEST(ScriptField, RefusesBadFiles) {
  auto message = error_message([] { dd::ode::ScriptField(kFixtures + "/wrong_signature.pt"); });
  EXPECT_NE(message.find("forward(self, t: Tensor, y: Tensor) -> Tensor"), std::string::npos) << message;
  EXPECT_NE(message.find("wrong_signature.pt"), std::string::npos) << message;
  message = error_message([] { dd::ode::ScriptField("/nonexistent/field.pt"); });
  EXPECT_NE(message.find("cannot read the TorchScript field '/nonexistent/field.pt'"), std::string::npos) << message;
  const std::string corrupt = ::testing::TempDir() + "corrupt_field.pt";
  std::ofstream(corrupt) << "not a zip archive";
  message = error_message([&] { dd::ode::ScriptField{corrupt}; });
  EXPECT_NE(message.find("is not a TorchScript file"), std::string::npos) << message;
  std::remove(corrupt.c_str());
}
