// How close the ODE core runs to its floor, the cost of the field evaluations it cannot avoid,
// on torchdiffeq's ode_demo spiral (bench/spiral_field.h, bench_core's weights and state): batch
// 1024, float32, dopri5, rtol 1e-6, atol 1e-8, t in [0, 10], one thread. The field is the
// library's building block, core::mlp (fused kernels).
//   field     one evaluation without a graph                                         = F
//   field+vjp one evaluation with a graph and its vector-Jacobian product (to y and
//             the parameters)                                                        = G
//   solve         no-grad solve                        floor = NFE x F
//   direct        solve, loss = mean(y(T)^2), backward floor = NFE x G
//   adjoint       the same loss by the adjoint         floor = NFE x F + NFE_backward x G
//   checkpointed  the same loss by checkpoints         floor = NFE x F + NFE_backward x G
//                 (NFE_backward of the re-runs through autograd: with the vjp it also counts VJPs)
// ratio = median time / floor: what the solver, autograd and the gradient strategy add. Direct and
// adjoint run with the net's own vector-Jacobian product (SolveOptions::vjp: the Direct gradient
// sweeps the stored stages without autograd's tape, the Adjoint's backward field records no
// graph, Checkpointed re-runs each segment without a graph and sweeps it back like Direct);
// "direct, autograd", "adjoint, autograd" and "checkpointed, autograd" without it, through autograd. The autograd
// direct solve recomputes the field's activations in its backward (core::RecomputeActivationsGuard),
// so direct rows also give time / (NFE x Gr), Gr an evaluation and VJP that recompute alike. Then the
// direct step with the step capped (max_step) to about 1.4x and 2.7x the NFE: time per NFE must
// stay flat (it grows linearly with NFE), and a hand-written Euler chain of as many recorded
// evaluations, which has the same stored graph without the solver. All cases run once per round,
// interleaved, medians. The process keeps freed memory for reuse (core::keep_freed_memory, as the
// deepdyn command does); --glibc-defaults leaves glibc's allocator as it is, to see what that is
// worth. The last cases run the same function in LibTorch operations, with core::tanh and with
// LibTorch's tanh, interleaved with the others.
//   bench_ode_floor [rounds=15] [--only CASE] [--glibc-defaults]   (--only: one case, for a profiler)
#include <deepdyn/deepdyn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "spiral_field.h"

namespace dd = deepdyn;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// One timed case: run() does the work once and returns (NFE, NFE_backward).
struct Case {
  std::string name;
  std::function<std::pair<int64_t, int64_t>()> run;
  std::vector<double> seconds{};
  int64_t nfe = 0, nfe_backward = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int rounds = 15;
  std::string only;
  bool glibc_defaults = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--only" && i + 1 < argc)
      only = argv[++i];
    else if (std::string(argv[i]) == "--glibc-defaults")
      glibc_defaults = true;
    else
      rounds = std::atoi(argv[i]);
  }
  if (rounds < 1) {
    std::fprintf(stderr, "usage: bench_ode_floor [rounds >= 1] [--only CASE] [--glibc-defaults]\n");
    return 2;
  }
  if (!glibc_defaults) dd::core::keep_freed_memory();
  torch::set_num_threads(1);
  const SpiralProblem problem(SpiralKernels::Fused);
  auto net = problem.net;
  const auto params = net->parameters();
  const auto &y0 = problem.y0, &ts = problem.ts;
  const auto t = torch::scalar_tensor(0.5);
  const auto& spiral = problem.options;
  constexpr int field_calls = 100;

  // The same function in LibTorch operations, with core::tanh and with LibTorch's tanh.
  const std::vector<std::pair<std::string, SpiralNet>> unfused = {
      {"LibTorch operations with core::tanh", SpiralNet(SpiralKernels::Operations)},
      {"LibTorch operations with LibTorch's tanh", SpiralNet(SpiralKernels::LibTorch)}};
  for (const auto& other : unfused) {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) other.second->parameters()[i].copy_(params[i]);
  }

  auto training_step = [&](dd::ode::SolveOptions options, SpiralNet field) {
    return [&, options, field]() -> std::pair<int64_t, int64_t> {
      for (auto p : field->parameters()) p.mutable_grad() = torch::Tensor();
      auto sol = dd::ode::solve(field, y0, ts, options);
      sol.ys[-1].pow(2).mean().backward();
      return {sol.stats->nfe, sol.stats->nfe_backward};
    };
  };
  auto no_grad_solve = [&](SpiralNet field) {
    return [&, field]() -> std::pair<int64_t, int64_t> {
      torch::NoGradGuard no_grad;
      return {dd::ode::solve(field, y0, ts, spiral).stats->nfe, 0};
    };
  };
  // field_calls evaluations with a graph, each followed by its VJP for y and the parameters;
  // `recompute`: the activations recomputed in the backward, as the direct solve has them.
  auto field_vjp_calls = [&](bool recompute) {
    return [&, recompute]() -> std::pair<int64_t, int64_t> {
      auto y = y0.detach().requires_grad_();
      auto v = torch::ones_like(y0);
      std::vector<torch::Tensor> inputs{y};
      inputs.insert(inputs.end(), params.begin(), params.end());
      for (int i = 0; i < field_calls; ++i) {
        std::optional<dd::core::RecomputeActivationsGuard> guard;
        if (recompute) guard.emplace();
        auto f = net(t, y);
        guard.reset();
        torch::autograd::grad({f}, inputs, {v});
      }
      return {field_calls, 0};
    };
  };
  // The fused net's own vector-Jacobian product: Direct sweeps the steps without autograd's tape and
  // the Adjoint's backward field records no graph. The "autograd" rows run without it.
  const auto with_vjp = dd::ode::SolveOptions(spiral).params(params).vjp(spiral_vjp(net));
  const auto direct = dd::ode::SolveOptions(with_vjp).gradient(dd::ode::Direct{}),
             adjoint = dd::ode::SolveOptions(with_vjp).gradient(dd::ode::Adjoint{}),
             checkpointed = dd::ode::SolveOptions(with_vjp).gradient(dd::ode::Checkpointed{}),
             direct_autograd = dd::ode::SolveOptions(spiral).gradient(dd::ode::Direct{}),
             adjoint_autograd = dd::ode::SolveOptions(spiral).gradient(dd::ode::Adjoint{});
  std::vector<Case> cases{
      {"field",
       [&]() -> std::pair<int64_t, int64_t> {
         torch::NoGradGuard no_grad;
         for (int i = 0; i < field_calls; ++i) net(t, y0);
         return {field_calls, 0};
       }},
      {"field+vjp", field_vjp_calls(/*recompute=*/false)},
      {"field+vjp, recomputed", field_vjp_calls(/*recompute=*/true)},
      {"solve", no_grad_solve(net)},
      {"direct", training_step(direct, net)},
      {"adjoint", training_step(adjoint, net)},
      {"checkpointed", training_step(checkpointed, net)},
      {"direct, autograd", training_step(direct_autograd, net)},
      {"adjoint, autograd", training_step(adjoint_autograd, net)},
      {"checkpointed, autograd", training_step(dd::ode::SolveOptions(spiral).gradient(dd::ode::Checkpointed{}), net)},
  };
  // The direct step at more NFE: the step capped below what the controller chooses.
  for (const double cap : {0.3, 0.15})
    cases.push_back({"direct, max_step " + std::to_string(cap).substr(0, 4),
                     training_step(dd::ode::SolveOptions(direct).step_control(
                                       dd::ode::StepControl(spiral.step_control()).max_step(cap)),
                                   net)});
  // The direct step with the loss on 1000 outputs, as when fitting a measured trajectory: the
  // outputs are interpolated inside the steps, and their graph must not grow faster than their number.
  const auto dense_ts = torch::linspace(0, 10, 1000, torch::kFloat64);
  cases.push_back({"direct, 1000 outputs", [&, dense_ts]() -> std::pair<int64_t, int64_t> {
                     for (auto p : params) p.mutable_grad() = torch::Tensor();
                     auto sol = dd::ode::solve(net, y0, dense_ts, direct);
                     sol.ys.pow(2).mean().backward();
                     return {sol.stats->nfe, sol.stats->nfe_backward};
                   }});
  // The same graph without the solver: N hand-written Euler steps y += 0.01 f(y) recorded by
  // autograd, then one backward. Were every evaluation's activations (its 1024x50 tanh output) kept
  // until the backward, they would take 35 MB at 164 NFE, 88 MB at 410, past this machine's 32 MB
  // L3: the direct solve has core::mlp recompute them (core::RecomputeActivationsGuard), this chain
  // does not, so the two show what the stored activations cost.
  for (const int n : {164, 410})
    cases.push_back({"euler chain, " + std::to_string(n), [&, n]() -> std::pair<int64_t, int64_t> {
                       for (auto p : params) p.mutable_grad() = torch::Tensor();
                       auto y = y0;
                       for (int i = 0; i < n; ++i) y = y + 0.01 * net(t, y);
                       y.pow(2).mean().backward();
                       return {n, 0};
                     }});
  const size_t floor_cases = cases.size();
  for (const auto& other : unfused) {
    cases.push_back({"solve", no_grad_solve(other.second)});
    cases.push_back({"direct", training_step(direct_autograd, other.second)});
    cases.push_back({"adjoint", training_step(adjoint_autograd, other.second)});
  }

  if (!only.empty()) {
    const auto found = std::find_if(cases.begin(), cases.end(), [&](const Case& c) { return c.name == only; });
    if (found == cases.end()) {
      std::fprintf(stderr, "no case '%s'\n", only.c_str());
      return 2;
    }
    for (int r = 0; r < rounds; ++r) found->run();
    return 0;
  }
  for (auto& c : cases) c.run();  // warm-up: allocator, thread pools, lazy initialisation
  for (int r = 0; r < rounds; ++r)
    for (auto& c : cases) {
      const auto start = std::chrono::steady_clock::now();
      std::tie(c.nfe, c.nfe_backward) = c.run();
      c.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }

  const double field = median(cases[0].seconds) / field_calls, field_vjp = median(cases[1].seconds) / field_calls,
               field_vjp_recomputed = median(cases[2].seconds) / field_calls;
  std::printf("spiral, batch 1024, float32, dopri5 rtol 1e-6 atol 1e-8, t in [0, 10], 1 thread, %d rounds, medians%s\n",
              rounds, glibc_defaults ? ", glibc's allocator defaults" : "");
  std::printf("  field      %8.1f us  (F)\n  field+vjp  %8.1f us  (G)\n", field * 1e6, field_vjp * 1e6);
  std::printf("  field+vjp  %8.1f us  (Gr: the activations recomputed in the backward, as the direct solve does)\n",
              field_vjp_recomputed * 1e6);
  std::printf("  %-22s %10s %6s %6s %10s %7s %12s %12s\n", "case", "ms", "NFE", "NFE_b", "floor ms", "ratio",
              "ms / NFE", "direct / Gr");
  const int64_t rerun_evaluations = std::find_if(cases.begin(), cases.end(), [](const Case& c) {
                                      return c.name == "checkpointed, autograd";
                                    })->nfe_backward;
  for (size_t i = 3; i < floor_cases; ++i) {
    const auto& c = cases[i];
    const bool no_grad = c.name == "solve", direct = c.name.rfind("direct", 0) == 0 || c.name.rfind("euler", 0) == 0;
    // With the vjp, checkpointed's NFE_b counts each re-run evaluation and each VJP: its floor is
    // that of the same re-runs through autograd, each evaluation recorded and pulled back (G).
    const int64_t floor_backward = c.name == "checkpointed" ? rerun_evaluations : c.nfe_backward;
    const double floor = no_grad  ? c.nfe * field
                         : direct ? c.nfe * field_vjp
                                  : c.nfe * field + floor_backward * field_vjp;
    const double time = median(c.seconds);
    std::printf("  %-22s %10.2f %6lld %6lld %10.2f %7.3f %12.4f", c.name.c_str(), time * 1e3,
                static_cast<long long>(c.nfe), static_cast<long long>(c.nfe_backward), floor * 1e3, time / floor,
                time * 1e3 / double(c.nfe + (direct ? 0 : c.nfe_backward)));
    if (c.name.rfind("direct", 0) == 0) std::printf(" %12.3f", time / (c.nfe * field_vjp_recomputed));
    std::printf("\n");
  }
  for (size_t i = floor_cases; i < cases.size(); ++i) {
    if ((i - floor_cases) % 3 == 0) {
      std::printf("  the same function in %s:\n", unfused[(i - floor_cases) / 3].first.c_str());
      std::printf("  %-22s %10s %6s %6s %16s\n", "case", "ms", "NFE", "NFE_b", "fused / this");
    }
    const auto& c = cases[i];
    const auto& ours = *std::find_if(cases.begin(), cases.end(), [&](const Case& o) { return o.name == c.name; });
    std::printf("  %-22s %10.2f %6lld %6lld %16.3f\n", c.name.c_str(), median(c.seconds) * 1e3,
                static_cast<long long>(c.nfe), static_cast<long long>(c.nfe_backward),
                median(ours.seconds) / median(c.seconds));
  }
  return 0;
}
