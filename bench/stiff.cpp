// Explicit against implicit methods on stiff problems: steps, NFE, Newton iterations, Jacobians
// and time (median of interleaved rounds) on Robertson's kinetics and Van der Pol (mu = 1000).
//   build/bench/bench_stiff [rounds]
#include <deepdyn/deepdyn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "stiff_problems.h"

namespace dd = deepdyn;
using dd::bench::robertson;
using dd::bench::van_der_pol;
using dd::ode::Method;

namespace {

struct Problem {
  std::string name;
  dd::ode::Field field;
  torch::Tensor y0;
  double t_end, atol;
};

struct Run {
  dd::core::Stats stats;
  double seconds;
};

Run run(const Problem& p, Method method) {
  auto options = dd::ode::SolveOptions().method(method).rtol(1e-6).atol(p.atol).max_steps(20000).throw_on_failure(false);
  const auto start = std::chrono::steady_clock::now();
  auto sol = dd::ode::solve(p.field, p.y0, torch::tensor({0.0, p.t_end}, torch::kFloat64), options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {*sol.stats, seconds};
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::stoi(argv[1]) : 5;
  torch::set_num_threads(1);
  const std::vector<Problem> problems = {
      {"robertson", robertson, torch::tensor({1.0, 0.0, 0.0}, torch::kFloat64), 1e5, 1e-10},
      {"van_der_pol", van_der_pol, torch::tensor({2.0, 0.0}, torch::kFloat64), 3000, 1e-6}};
  const std::vector<Method> methods = {Method::Dopri5, Method::Kvaerno3, Method::Kvaerno5};
  std::printf("rtol 1e-6, max_steps 20000, %d interleaved rounds, median time\n", rounds);
  std::printf("%-12s %-9s %8s %8s %8s %8s %6s %6s %10s %s\n", "problem", "method", "steps", "rejected", "nfe",
              "newton", "jac", "lu", "ms", "outcome");
  for (const auto& p : problems) {
    std::vector<std::vector<double>> times(methods.size());
    std::vector<Run> last(methods.size());
    for (int r = 0; r < rounds; ++r)
      for (size_t m = 0; m < methods.size(); ++m) {
        last[m] = run(p, methods[m]);
        times[m].push_back(last[m].seconds);
      }
    for (size_t m = 0; m < methods.size(); ++m) {
      auto& t = times[m];
      std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
      const auto& s = last[m].stats;
      std::printf("%-12s %-9s %8lld %8lld %8lld %8lld %6lld %6lld %10.1f %s\n", p.name.c_str(),
                  dd::ode::method_name(methods[m]).c_str(), static_cast<long long>(s.steps),
                  static_cast<long long>(s.rejected), static_cast<long long>(s.nfe),
                  static_cast<long long>(s.newton_iterations), static_cast<long long>(s.jacobians),
                  static_cast<long long>(s.linear_solves), 1e3 * t[t.size() / 2],
                  dd::core::termination_name(s.termination).c_str());
    }
  }
}
