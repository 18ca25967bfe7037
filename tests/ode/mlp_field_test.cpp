// ode::MLPField: its forward against the formula it documents, its standardisation, and its
// TorchScript export, which must compute the same field for every option.
#include <deepdyn/deepdyn.h>
#include <deepdyn/ode/script_field.h>
#include <gtest/gtest.h>

#include <sstream>

namespace dd = deepdyn;

namespace {

TEST(MLPField, ForwardIsTheStandardisedNetworkOfItsDocumentation) {
  torch::manual_seed(3);
  dd::ode::MLPField field(dd::ode::MLPFieldOptions(2).hidden({5, 4}).cube_input(true).time_input(true));
  field->to(torch::kFloat64);
  const auto states = torch::randn({50, 2}, torch::kFloat64) * torch::tensor({3.0, 0.5}, torch::kFloat64) + 1.0;
  field->standardize(states);
  EXPECT_TRUE(torch::allclose(field->shift, states.mean(0)));
  EXPECT_TRUE(torch::allclose(field->scale, states.std(0)));

  const auto y = torch::randn({7, 2}, torch::kFloat64), t = torch::rand({7, 1}, torch::kFloat64);
  auto u = ((y - states.mean(0)) / states.std(0)).pow(3);
  u = torch::cat({u, t}, 1);
  auto layer = [&](size_t i) { return field->layers->at<torch::nn::LinearImpl>(i).forward(u); };
  u = torch::tanh(layer(0));
  u = torch::tanh(layer(1));
  const auto expected = states.std(0) * layer(2);
  EXPECT_TRUE(torch::allclose(field->forward(t, y), expected, 1e-12, 1e-12));

  // A component that never varies keeps scale 1 (no division by zero).
  field->standardize(torch::stack({torch::arange(4, torch::kFloat64), torch::full({4}, 2.0, torch::kFloat64)}, 1));
  EXPECT_EQ(field->scale[1].item<double>(), 1.0);
}

TEST(MLPField, TorchScriptExportComputesTheSameFieldForEveryOption) {
  for (const bool cube : {false, true})
    for (const bool time : {false, true})
      for (const auto activation :
           {dd::core::Activation::Tanh, dd::core::Activation::Softplus, dd::core::Activation::Sigmoid,
            dd::core::Activation::Elu, dd::core::Activation::Identity}) {
        torch::manual_seed(cube + 2 * time);
        dd::ode::MLPField field(
            dd::ode::MLPFieldOptions(3).hidden({6, 5}).activation(activation).cube_input(cube).time_input(time));
        field->to(torch::kFloat64);
        field->standardize(torch::randn({20, 3}, torch::kFloat64) * 2 + 1);
        {
          torch::NoGradGuard no_grad;  // weights large enough that softplus is far from linear
          for (auto& p : field->parameters()) p.mul_(10);
        }
        // Saved and loaded again, as a user's torch.jit.load would.
        std::stringstream bytes;
        dd::ode::to_script(*field).save(bytes);
        dd::ode::ScriptField script(torch::jit::load(bytes), "exported field");
        const auto y = torch::randn({4, 3}, torch::kFloat64);
        for (const auto& t : {torch::scalar_tensor(0.7, torch::kFloat64), torch::rand({4, 1}, torch::kFloat64)}) {
          const auto expected = field->forward(t, y);
          EXPECT_TRUE(torch::allclose(script(t, y), expected, 1e-12, 1e-12))
              << "cube " << cube << " time " << time << " " << dd::core::activation_name(activation);
        }
        EXPECT_EQ(script.parameters().size(), field->parameters().size());
      }
}

TEST(MLPField, BadOptionsAreRefused) {
  EXPECT_THROW(dd::ode::MLPField(dd::ode::MLPFieldOptions(0)), c10::Error);
  EXPECT_THROW(dd::ode::MLPField(dd::ode::MLPFieldOptions(2).hidden({})), c10::Error);
  EXPECT_THROW(dd::ode::MLPField(dd::ode::MLPFieldOptions(2).hidden({4, 0})), c10::Error);
}

}  // namespace

// MLPField::vjp, which ode::solve's tapeless gradients call, against autograd through forward:
// the state's, the time's (0-d and one per row) and every parameter's cotangent, and the value.
TEST(MLPField, VJPIsAutogradsProductThroughForward) {
  for (const bool cube : {false, true})
    for (const bool time : {false, true}) {
      torch::manual_seed(10 + cube + 2 * time);
      dd::ode::MLPField field(dd::ode::MLPFieldOptions(3).hidden({6, 5}).cube_input(cube).time_input(time));
      field->to(torch::kFloat64);
      field->standardize(torch::randn({20, 3}, torch::kFloat64) * 2 + 1);
      const auto y = torch::randn({4, 3}, torch::kFloat64).requires_grad_();
      for (const auto& t : {torch::scalar_tensor(0.7, torch::kFloat64), torch::rand({4, 1}, torch::kFloat64)}) {
        const auto what = std::string("cube ") + std::to_string(cube) + " time " + std::to_string(time) + " t " +
                          std::to_string(t.dim()) + "-d";
        const auto time_leaf = t.clone().requires_grad_(time);
        const auto value = field->forward(time_leaf, y);
        const auto v = torch::randn_like(value);
        std::vector<torch::Tensor> inputs = {y};
        for (const auto& p : field->parameters()) inputs.push_back(p);
        if (time) inputs.push_back(time_leaf);
        const auto expected = torch::autograd::grad({value}, inputs, {v});

        std::vector<torch::Tensor> param_grads;
        for (const auto& p : field->parameters()) param_grads.push_back(torch::zeros_like(p).detach());
        const auto r = field->vjp(t, y.detach(), v, param_grads, true);
        EXPECT_TRUE(torch::allclose(r.value, value.detach(), 1e-12, 1e-12)) << what;
        EXPECT_TRUE(torch::allclose(r.y, expected[0], 1e-11, 1e-12)) << what;
        for (size_t i = 0; i < param_grads.size(); ++i)
          EXPECT_TRUE(torch::allclose(param_grads[i], expected[1 + i], 1e-11, 1e-12)) << what << " parameter " << i;
        if (time) {
          ASSERT_TRUE(r.t.defined()) << what;
          EXPECT_TRUE(torch::allclose(r.t, expected.back(), 1e-11, 1e-12)) << what;
        } else {
          EXPECT_FALSE(r.t.defined()) << what;
        }
      }
    }
}
