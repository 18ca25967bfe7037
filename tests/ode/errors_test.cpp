// Bad input is refused with a message that says what was expected; a solve that
// cannot finish stops with a status and a message naming the time and step size.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <cmath>

namespace dd = deepdyn;
using dd::ode::SolveOptions;

namespace {

torch::Tensor decay(const torch::Tensor&, const torch::Tensor& y) { return -y; }

// Runs `call`, expects a c10::Error whose message contains every fragment.
template <class Call>
void expect_error(Call&& call, const std::vector<std::string>& fragments) {
  try {
    call();
    ADD_FAILURE() << "expected an error mentioning '" << fragments.front() << "'";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "message: " << msg;
  }
}

const auto kTs = torch::linspace(0, 1, 5, torch::kFloat64);
const auto kY0 = torch::ones({2}, torch::kFloat64);

TEST(BadInput, TimesNotMonotone) {
  auto ts = torch::tensor({0.0, 1.0, 0.5}, torch::kFloat64);
  expect_error([&] { dd::ode::solve(decay, kY0, ts); }, {"strictly increasing or strictly decreasing", "ts[1] = 1"});
}

TEST(BadInput, TimesRepeated) {
  auto ts = torch::tensor({0.0, 1.0, 1.0}, torch::kFloat64);
  expect_error([&] { dd::ode::solve(decay, kY0, ts); }, {"strictly increasing"});
}

TEST(BadInput, TimesNotOneDimensional) {
  expect_error([&] { dd::ode::solve(decay, kY0, torch::zeros({2, 2}, torch::kFloat64)); }, {"1-D tensor", "[2, 2]"});
}

TEST(BadInput, TimesNotFloating) {
  expect_error([&] { dd::ode::solve(decay, kY0, torch::arange(3)); }, {"ts must be floating point", "Long"});
}

TEST(BadInput, TimesOnAnotherDevice) {
  auto ts = torch::empty({3}, torch::TensorOptions().dtype(torch::kFloat64).device(torch::kMeta));
  expect_error([&] { dd::ode::solve(decay, kY0, ts); }, {"same device", "meta"});
}

TEST(BadInput, IntegerState) {
  expect_error([&] { dd::ode::solve(decay, torch::ones({2}, torch::kInt64), kTs); },
               {"y0 must be a floating-point tensor", "Long"});
}

TEST(BadInput, NonFiniteState) {
  expect_error(
      [&] {
        dd::ode::solve(decay, torch::tensor({1.0, std::nan("")}, torch::kFloat64), kTs);
      },
      {"y0 contains NaN"});
}

TEST(BadInput, Tolerances) {
  expect_error([&] { dd::ode::solve(decay, kY0, kTs, SolveOptions().rtol(-1)); }, {"rtol must be > 0, got -1"});
  expect_error([&] { dd::ode::solve(decay, kY0, kTs, SolveOptions().rtol(0)); }, {"rtol must be > 0, got 0"});
  expect_error([&] { dd::ode::solve(decay, kY0, kTs, SolveOptions().atol(-1e-9)); }, {"atol must be >= 0"});
  expect_error(
      [&] {
        dd::ode::solve(decay, kY0, kTs, SolveOptions().rtol(std::vector<double>{1e-6, 1e-6}));
      },
      {"one value per state component", "1 component"});
}

TEST(BadInput, StepOptions) {
  expect_error([&] { dd::ode::solve(decay, kY0, kTs, SolveOptions().step_size(0.0)); }, {"step_size must be > 0"});
  expect_error([&] { dd::ode::solve(decay, kY0, kTs, SolveOptions().step_control(dd::ode::StepControl().first_step(-0.1))); }, {"first_step must be > 0"});
  expect_error([&] { dd::ode::solve(decay, kY0, kTs, SolveOptions().max_steps(0)); }, {"max_steps must be > 0"});
  expect_error([&] { dd::ode::solve(decay, kY0, kTs, SolveOptions().step_control(dd::ode::StepControl().icoeff(0.0))); },
               {"pcoeff + icoeff + dcoeff must be finite and > 0", "got 0 + 0 + 0"});
  expect_error([&] { dd::ode::solve(decay, kY0, kTs, SolveOptions().step_control(dd::ode::StepControl().pcoeff(-2.0))); }, {"got -2 + 1 + 0"});
  expect_error(
      [&] {
        dd::ode::solve(decay, kY0, kTs, SolveOptions().step_size(0.1).grid({0.0, 1.0}));
      },
      {"either SolveOptions::step_size or ::grid"});
}

TEST(BadInput, ErrorControlFlags) {
  dd::ode::TupleField field = [](const torch::Tensor&, const std::vector<torch::Tensor>& s) { return s; };
  std::vector<torch::Tensor> y0 = {kY0, kY0};
  expect_error([&] { dd::ode::solve(field, y0, kTs, SolveOptions().error_control({true})); },
               {"one flag per state component (2)"});
  expect_error(
      [&] {
        dd::ode::solve(field, y0, kTs, SolveOptions().error_control({false, false}));
      },
      {"at least one flag must be true"});
}

TEST(BadInput, UnknownMethodName) {
  expect_error([] { dd::ode::parse_method("rk5"); }, {"unknown ODE method 'rk5': valid names are", "tsit5"});
}

TEST(BadInput, FieldOfWrongShapeOrDtype) {
  auto wrong_shape = [](const torch::Tensor&, const torch::Tensor& y) { return y.sum(); };
  expect_error([&] { dd::ode::solve(wrong_shape, kY0, kTs); }, {"state's shape [2]", "got []"});
  auto wrong_dtype = [](const torch::Tensor&, const torch::Tensor& y) { return y.to(torch::kFloat32); };
  expect_error([&] { dd::ode::solve(wrong_dtype, kY0, kTs); }, {"state's dtype", "Float"});
}

// One error family: what catches LibTorch's errors catches a failed solve, with its message.
TEST(Failures, ASolveErrorIsCaughtAsAC10Error) {
  try {
    dd::ode::solve(decay, kY0, torch::tensor({0.0, 100.0}, torch::kFloat64), SolveOptions().max_steps(5));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("max_steps (5) reached"), std::string::npos) << msg;
    const auto* solve_error = dynamic_cast<const dd::ode::SolveError*>(&e);
    ASSERT_NE(solve_error, nullptr);
    EXPECT_EQ(solve_error->termination(), dd::core::Termination::MaxSteps);
  }
}

TEST(Failures, MaxStepsThrowsWithTimeAndStep) {
  try {
    dd::ode::solve(decay, kY0, torch::tensor({0.0, 100.0}, torch::kFloat64), SolveOptions().max_steps(5));
    FAIL() << "expected SolveError";
  } catch (const dd::ode::SolveError& e) {
    EXPECT_EQ(e.termination(), dd::core::Termination::MaxSteps);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("max_steps"), std::string::npos) << msg;
    EXPECT_NE(msg.find("stopped at t = "), std::string::npos) << msg;
    EXPECT_NE(msg.find("dt = "), std::string::npos) << msg;
    EXPECT_GT(e.t(), 0.0);
    EXPECT_LT(e.t(), 100.0);
    EXPECT_NE(msg.find("loosen rtol/atol"), std::string::npos) << msg;
  }
  // A fixed step that is too small: the advice is about the step, not the tolerances.
  expect_error([] { dd::ode::solve(decay, kY0, kTs, SolveOptions().step_size(1e-9).max_steps(100)); },
               {"max_steps (100) reached. Raise SolveOptions::max_steps, or take a larger step_size."});
}

TEST(Failures, MaxStepsWithoutThrowGivesStatusAndNaNRows) {
  auto ts = torch::linspace(0.0, 100.0, 11, torch::kFloat64);
  auto sol = dd::ode::solve(decay, kY0, ts, SolveOptions().max_steps(5).throw_on_failure(false));
  EXPECT_EQ(sol.stats->termination, dd::core::Termination::MaxSteps);
  EXPECT_FALSE(sol.stats->message.empty());
  ASSERT_EQ(sol.ys.sizes(), (std::vector<int64_t>{11, 2}));
  EXPECT_TRUE(torch::equal(sol.ys[0], kY0));
  EXPECT_TRUE(torch::isnan(sol.ys[10]).all().item<bool>());
}

TEST(Failures, BlowUpStopsNearTheSingularity) {
  // y' = y^2, y(0) = 1 has the solution 1 / (1 - t), which blows up at t = 1.
  auto square = [](const torch::Tensor&, const torch::Tensor& y) { return y * y; };
  try {
    dd::ode::solve(square, torch::ones({1}, torch::kFloat64), torch::tensor({0.0, 2.0}, torch::kFloat64));
    FAIL() << "expected SolveError";
  } catch (const dd::ode::SolveError& e) {
    EXPECT_TRUE(e.termination() == dd::core::Termination::StepSizeUnderflow || e.termination() == dd::core::Termination::NonFinite ||
                e.termination() == dd::core::Termination::MaxSteps)
        << dd::core::termination_name(e.termination());
    EXPECT_NEAR(e.t(), 1.0, 1e-2) << e.what();
  }
}

TEST(Failures, NaNFieldIsReportedAsNonFinite) {
  auto poisoned = [](const torch::Tensor& t, const torch::Tensor& y) { return t.item<double>() > 0.5 ? y * NAN : -y; };
  for (auto method : {dd::ode::Method::Dopri5, dd::ode::Method::RK4}) {
    try {
      auto opts = SolveOptions().method(method);
      if (method == dd::ode::Method::RK4) opts.step_size(0.1);
      dd::ode::solve(poisoned, kY0, kTs, opts);
      FAIL() << "expected SolveError";
    } catch (const dd::ode::SolveError& e) {
      EXPECT_EQ(e.termination(), dd::core::Termination::NonFinite) << e.what();
      EXPECT_NE(std::string(e.what()).find("NaN or Inf"), std::string::npos);
      EXPECT_GT(e.t(), 0.45);
      EXPECT_LT(e.t(), 0.85);
    }
  }
}

// NaN from the first evaluation (the starting step is then NaN too) is NaN, not an underflow.
TEST(Failures, NaNFieldFromTheStartIsReportedAsNonFinite) {
  auto nan_field = [](const torch::Tensor&, const torch::Tensor& y) { return y * NAN; };
  for (const auto& opts : {SolveOptions(), SolveOptions().step_control(dd::ode::StepControl().first_step(0.1))}) {
    auto sol = dd::ode::solve(nan_field, kY0, kTs, SolveOptions(opts).throw_on_failure(false));
    EXPECT_EQ(sol.stats->termination, dd::core::Termination::NonFinite) << sol.stats->message;
    EXPECT_NE(sol.stats->message.find("NaN or Inf"), std::string::npos) << sol.stats->message;
  }
}

TEST(Failures, MinStepIsHonoured) {
  auto stiff = [](const torch::Tensor&, const torch::Tensor& y) { return -1e6 * y; };
  auto sol = dd::ode::solve(stiff, kY0, kTs, SolveOptions().step_control(dd::ode::StepControl().min_step(1e-3)).throw_on_failure(false));
  EXPECT_EQ(sol.stats->termination, dd::core::Termination::StepSizeUnderflow);
  EXPECT_NE(sol.stats->message.find("underflow"), std::string::npos) << sol.stats->message;
}

}  // namespace
