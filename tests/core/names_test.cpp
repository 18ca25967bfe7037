// The name tables: core::NameTable itself, and every table of the library round-trips its values,
// names each once and refuses an unknown name with the one wording that lists them all.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace dd = deepdyn;
using dd::core::NameTable;

namespace {

enum class Colour { Red, Green };

struct Plain {};
struct Tuned {
  int level = 1;
};
using Choice = std::variant<Plain, Tuned>;

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const c10::Error& e) {
    return e.msg();
  }
  return "";
}

template <class T>
bool same(const T& a, const T& b) {
  if constexpr (std::is_enum_v<T>)
    return a == b;
  else
    return a.index() == b.index();
}

// `values` in the table's order; parse and name_of are the library's public functions.
template <class T, class Parse, class NameOf>
void expect_table(const std::string& what, const std::vector<T>& values, const std::vector<std::string>& names,
                  Parse parse, NameOf name_of) {
  SCOPED_TRACE(what);
  ASSERT_EQ(names.size(), values.size());
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size()) << "a name is used twice";
  std::string list;
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(name_of(values[i]), names[i]);
    EXPECT_TRUE(same<T>(parse(name_of(values[i])), values[i])) << names[i];
    list += (i ? ", " : "") + names[i];
  }
  EXPECT_EQ(error_of([&] { parse("no-such-name"); }), "unknown " + what + " 'no-such-name': valid names are " + list);
}

}  // namespace

TEST(NameTable, ParsesNamesAndListsThemInOrder) {
  const NameTable<Colour> colours("colour", {{"red", Colour::Red}, {"green", Colour::Green}});
  EXPECT_EQ(colours.parse("green"), Colour::Green);
  EXPECT_EQ(colours.name_of(Colour::Red), "red");
  EXPECT_EQ(colours.names(), (std::vector<std::string>{"red", "green"}));
  EXPECT_EQ(error_of([&] { colours.parse("blue"); }), "unknown colour 'blue': valid names are red, green");
  EXPECT_NE(error_of([&] { colours.name_of(static_cast<Colour>(7)); }).find("colour value 7 has no name"),
            std::string::npos);
  const auto twice = [] { NameTable<Colour>("colour", {{"red", Colour::Red}, {"red", Colour::Green}}); };
  EXPECT_NE(error_of(twice).find("colour 'red' is named twice"), std::string::npos);
}

TEST(NameTable, VariantAlternativesAreNamedWhateverTheirSettings) {
  const NameTable<Choice> choices("choice", {{"plain", Plain{}}, {"tuned", Tuned{}}});
  EXPECT_EQ(choices.name_of(Tuned{7}), "tuned");
  const Choice parsed = choices.parse("tuned");
  ASSERT_TRUE(std::holds_alternative<Tuned>(parsed));
  EXPECT_EQ(std::get<Tuned>(parsed).level, 1) << "parsing gives the default settings";
}

TEST(NameTables, EveryTableRoundTripsAndListsItsNamesInTheOneWording) {
  using namespace dd;
  expect_table("ODE method", ode::all_methods(), ode::method_names(), ode::parse_method, ode::method_name);
  expect_table("gradient",
               std::vector<ode::Gradient>{ode::Direct{}, ode::Adjoint{}, ode::Checkpointed{}},
               ode::gradient_names(), ode::parse_gradient, ode::gradient_name);
  expect_table("fixed-point method", std::vector<deq::Method>{deq::Picard{}, deq::Anderson{}, deq::Broyden{}},
               deq::method_names(), deq::parse_method, deq::method_name);
  expect_table("DEQ backward", std::vector<deq::Backward>{deq::Implicit{}, deq::JacobianFree{}, deq::Phantom{}},
               deq::backward_names(), deq::parse_backward, deq::backward_name);
  expect_table("toy density", data::all_toys(), data::toy_names(), data::parse_toy, data::toy_name);
  expect_table("activation",
               std::vector<core::Activation>{core::Activation::Tanh, core::Activation::Softplus,
                                             core::Activation::Sigmoid, core::Activation::Elu,
                                             core::Activation::Identity},
               core::activation_names(), core::parse_activation, core::activation_name);
  expect_table("trace estimator",
               std::vector<core::TraceEstimator>{core::TraceEstimator::Exact, core::TraceEstimator::Hutchinson},
               core::trace_estimator_names(), core::parse_trace_estimator, core::trace_estimator_name);
  // Every alternative of the variants has its name.
  EXPECT_EQ(deq::method_names().size(), std::variant_size_v<deq::Method>);
  EXPECT_EQ(deq::backward_names().size(), std::variant_size_v<deq::Backward>);
}

TEST(NameTables, TerminationsHaveOneNameAndOneMessageEach) {
  using dd::core::Termination;
  std::set<std::string> names, messages;
  const auto all = {Termination::Success, Termination::MaxSteps, Termination::StepSizeUnderflow,
                    Termination::NonFinite, Termination::Diverged};
  for (auto t : all) {
    names.insert(dd::core::termination_name(t));
    messages.insert(dd::core::termination_message(t));
  }
  EXPECT_EQ(names,
            (std::set<std::string>{"success", "max_steps", "step_size_underflow", "non_finite", "diverged"}));
  EXPECT_EQ(messages.size(), all.size());
}
