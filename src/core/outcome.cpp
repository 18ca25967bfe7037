#include "deepdyn/core/outcome.h"

#include "deepdyn/core/names.h"

namespace deepdyn::core {

const std::string& termination_name(Termination termination) {
  static const NameTable<Termination> table("termination", {{"success", Termination::Success},
                                                            {"max_steps", Termination::MaxSteps},
                                                            {"step_size_underflow", Termination::StepSizeUnderflow},
                                                            {"non_finite", Termination::NonFinite},
                                                            {"diverged", Termination::Diverged},
                                                            {"no_convergence", Termination::NoConvergence}});
  return table.name_of(termination);
}

const std::string& termination_message(Termination termination) {
  static const std::string messages[] = {
      "the solve reached its end",
      "the step budget (max_steps, or max_iterations of a fixed point) ran out before the end",
      "the step size fell below min_step or the time resolution without meeting the tolerance",
      "the state or the function's value became NaN or infinite",
      "the residual grew instead of falling",
      "the Newton iteration of an implicit stage did not converge",
  };
  return messages[static_cast<int>(termination)];
}

Stats& Stats::operator+=(const Stats& other) {
  nfe += other.nfe;
  steps += other.steps;
  accepted += other.accepted;
  rejected += other.rejected;
  nfe_backward += other.nfe_backward;
  steps_backward += other.steps_backward;
  newton_iterations += other.newton_iterations;
  jacobians += other.jacobians;
  linear_solves += other.linear_solves;
  if (termination == Termination::Success) {
    termination = other.termination;
    message = other.message;
  }
  if (termination_backward == Termination::Success) {
    termination_backward = other.termination_backward;
    message_backward = other.message_backward;
  }
  return *this;
}

Stats total(const std::vector<std::shared_ptr<Stats>>& parts) {
  Stats sum;
  for (const auto& part : parts) sum += *part;
  return sum;
}

}  // namespace deepdyn::core
