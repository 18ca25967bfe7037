// One stats type, one termination enum and one error family for every solver and model, and
// one validate() per options struct.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include "support/error_message.h"

namespace dd = deepdyn;
using dd::core::Termination;
using dd::testing::error_message;

namespace {

const torch::Tensor kTs = torch::tensor({0.0, 1.0}, torch::kFloat64);

// The termination a failing action throws, caught as the family's base class.
Termination thrown_termination(const std::function<void()>& action) {
  try {
    action();
  } catch (const dd::core::SolverError& e) {
    return e.termination();
  }
  ADD_FAILURE() << "no core::SolverError was thrown";
  return Termination::Success;
}

TEST(Outcome, OdeAndFixedPointFailuresAreOneErrorFamilyWithTheirTermination) {
  auto grow = [](const torch::Tensor&, const torch::Tensor& y) { return y; };
  const auto y0 = torch::ones({2}, torch::kFloat64);
  EXPECT_EQ(thrown_termination([&] { dd::ode::solve(grow, y0, kTs, dd::ode::SolveOptions().max_steps(2)); }),
            Termination::MaxSteps);

  // A map without a fixed point: z + 1.
  auto shift = [](const torch::Tensor& z) { return z + 1; };
  const auto z0 = torch::zeros({3, 2}, torch::kFloat64);
  const auto options = dd::deq::FixedPointOptions(dd::deq::Picard()).max_iterations(5);
  const auto quiet = dd::deq::solve_fixed_point(shift, z0, options);  // off by default: reported, not thrown
  EXPECT_NE(quiet.stats.termination, Termination::Success);
  EXPECT_FALSE(quiet.stats.message.empty());
  EXPECT_EQ(thrown_termination([&] {
              dd::deq::solve_fixed_point(shift, z0, dd::deq::FixedPointOptions(options).throw_on_failure(true));
            }),
            quiet.stats.termination);
  // Every one of them is a c10::Error too.
  EXPECT_NE(error_message([&] {
              dd::deq::solve_fixed_point(shift, z0, dd::deq::FixedPointOptions(options).throw_on_failure(true));
            }),
            "");
}

TEST(Outcome, ModelOutputsCarryForwardAndBackwardCounts) {
  // DEQ: the forward iterations and the implicit backward's, in one Stats.
  torch::manual_seed(0);
  auto w = torch::randn({4, 4}, torch::kFloat64) * 0.2;
  auto u = torch::randn({4, 4}, torch::kFloat64).requires_grad_();
  dd::deq::DEQ deq(dd::deq::DEQFunction(
      [w, u](const torch::Tensor& z, const torch::Tensor& x) { return torch::tanh(z.mm(w) + x.mm(u)); }));
  auto x = torch::randn({3, 4}, torch::kFloat64);
  auto out = deq(x, torch::zeros({3, 4}, torch::kFloat64));
  EXPECT_GT(out.stats->nfe, 0);
  EXPECT_EQ(out.stats->steps_backward, 0);
  out.z.sum().backward();
  EXPECT_GT(out.stats->steps_backward, 0);
  EXPECT_GT(out.stats->nfe_backward, 0);
  EXPECT_EQ(out.stats->termination_backward, Termination::Success) << out.stats->message_backward;

  // ODE2VAE with the adjoint: its backward's field evaluations reach the output's stats.
  torch::manual_seed(3);
  dd::ode2vae::ODE2VAE model(dd::ode2vae::ODE2VAEOptions({3}, 2).amortization(2).hidden(6).field_hidden({5}).solver(
      dd::ode::SolveOptions().method(dd::ode::Method::RK4).gradient(dd::ode::Adjoint{})));
  model->to(torch::kFloat64);
  auto result = model->forward(torch::randn({2, 4, 3}, torch::kFloat64));
  EXPECT_EQ(result.stats->nfe_backward, 0);
  result.loss.backward();
  EXPECT_GT(result.stats->nfe_backward, 0);
}

TEST(Outcome, StatsOfSolvesInSequenceAddUpAndKeepTheFirstFailure) {
  auto first = std::make_shared<dd::core::Stats>(), second = std::make_shared<dd::core::Stats>();
  first->nfe = 10;
  first->nfe_backward = 3;
  second->nfe = 5;
  second->rejected = 1;
  second->termination = Termination::NonFinite;
  second->message = "NaN at t = 0.5";
  const auto sum = dd::core::total({first, second});
  EXPECT_EQ(sum.nfe, 15);
  EXPECT_EQ(sum.nfe_backward, 3);
  EXPECT_EQ(sum.rejected, 1);
  EXPECT_EQ(sum.termination, Termination::NonFinite);
  EXPECT_EQ(sum.message, "NaN at t = 0.5");
  EXPECT_FALSE(sum.succeeded());
}

TEST(Outcome, EveryOptionsStructValidatesItselfBeforeAnyWork) {
  using dd::ode::SolveOptions;
  using dd::ode::StepControl;
  const std::pair<std::function<void()>, std::string> cases[] = {
      {[] { SolveOptions().step_control(StepControl().safety(2)).validate(); }, "StepControl::safety"},
      {[] { SolveOptions().gradient(dd::ode::Adjoint().rtol(-1)).params({}).validate(); }, "Adjoint::rtol"},
      {[] { SolveOptions().gradient(dd::ode::Checkpointed().checkpoints(-1)).params({}).validate(); },
       "Checkpointed::checkpoints"},
      {[] { SolveOptions().gradient(dd::ode::Adjoint{}).validate(); }, "adjoint gradient must know which parameters"},
      {[] {
         SolveOptions().rtol({1e-6, 1e-6}).validate(3);
       },
       "one value per state component"},
      {[] { dd::deq::FixedPointOptions().tol(0).validate(); }, "tol must be > 0"},
      {[] { dd::deq::DEQOptions().backward(dd::deq::Phantom().steps(0)).validate(); }, "Phantom steps"},
      {[] { dd::cnf::CNFOptions(0).validate(); }, "CNF dim"},
      {[] { dd::reg::RNODE(-1, 0).validate(); }, "lambda_K"},
      {[] { dd::ode2vae::ODE2VAEOptions({3}, 0).validate(); }, "latent must be >= 1"},
      {[] { dd::ode2vae::BayesianMLPOptions(2, 2).initial_variance(0).validate(); }, "initial_variance"},
  };
  for (const auto& [action, expected] : cases) {
    const auto message = error_message(action);
    EXPECT_NE(message.find(expected), std::string::npos) << "expected '" << expected << "' in: " << message;
  }
}

}  // namespace
