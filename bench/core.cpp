// The core operations deepdyn stands on, timed with one thread, for comparing LibTorch builds
// (bench/libtorch_builds.py runs this program from two builds in turn) and for seeing whether a
// change made the core slower. Each case runs `rounds` times, cases interleaved round by round;
// one line per case: median and min milliseconds, NFE (forward/backward) or iterations.
//   spiral: torchdiffeq's ode_demo field f(t, y) = net(y^3), net = Linear(2,50)-tanh-Linear(50,2),
//           batch 1024, float32; solves by dopri5, rtol 1e-6, atol 1e-8, t in [0, 10]; training
//           steps: loss = mean(y(T)^2), backward to the net's parameters
//   ffjord: one training iteration, 8gaussians batch 512, concat-squash 2-64-64-64-2 (tanh, last
//           layer drawn at random), Hutchinson trace, dopri5 rtol = atol = 1e-5, adjoint; and its
//           forward pass alone without a graph
//   deq:    z = tanh(z W^T + x U^T + b), width 256, inputs 64, batch 64, ||W||_2 = 0.9, Broyden to
//           relative residual 1e-4 forward, implicit backward by Broyden to 1e-6
//   bench_core [rounds=15] [--json]
#include <deepdyn/deepdyn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "spiral_field.h"
#include "tanh_cell.h"

namespace dd = deepdyn;

namespace {

/// One timed case: run() does the work once and returns its counts.
struct Counts {
  long long forward = 0, backward = 0;
};
struct Case {
  std::string name, counts_meaning;
  std::function<Counts()> run;
  std::vector<double> ms{};
  Counts counts{};
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void zero_grads(const std::vector<torch::Tensor>& params) {
  for (auto p : params) p.mutable_grad() = torch::Tensor();
}

}  // namespace

int main(int argc, char** argv) {
  dd::core::keep_freed_memory();  // as the deepdyn command does
  int rounds = 15;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0)
      json = true;
    else
      rounds = std::atoi(argv[i]);
  }
  torch::set_num_threads(1);
  const SpiralProblem problem;  // seeds the random stream the other cases continue
  auto net = problem.net;
  const auto params = net->parameters();
  const auto &y0 = problem.y0, &ts = problem.ts;
  const auto t = torch::scalar_tensor(0.5);
  const auto& spiral = problem.options;
  auto training_step = [&](dd::ode::Gradient gradient) {
    zero_grads(params);
    auto sol = dd::ode::solve(net, y0, ts, dd::ode::SolveOptions(spiral).gradient(gradient));
    sol.ys[-1].pow(2).mean().backward();
    return Counts{sol.stats->nfe, sol.stats->nfe_backward};
  };

  auto flow_options = dd::cnf::CNFOptions(2)
                          .hidden({64, 64, 64})
                          .solver(dd::ode::SolveOptions().rtol(1e-5).atol(1e-5).gradient(dd::ode::Adjoint{}));
  dd::cnf::CNF flow(flow_options);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : flow->blocks[0]->layers.back()->parameters()) p.copy_(0.3 * torch::randn_like(p));
  }
  const auto points = dd::data::sample_toy(dd::data::Toy::EightGaussians, 512, 1);

  TanhCell cell(256, 64);
  const auto x = torch::randn({64, 64});
  dd::deq::DEQ deq(cell, dd::deq::DEQOptions()
                             .forward(dd::deq::FixedPointOptions(dd::deq::Broyden()).tol(1e-4).max_iterations(50))
                             .backward(dd::deq::Implicit(dd::deq::FixedPointOptions(dd::deq::Broyden()).tol(1e-6))));
  const auto z0 = torch::zeros({64, 256});

  std::vector<Case> cases;
  cases.push_back({"spiral field, no graph", "1 evaluation", [&] {
                     torch::NoGradGuard no_grad;
                     net(t, y0);
                     return Counts{1, 0};
                   }});
  cases.push_back({"spiral field, graph + vjp", "1 evaluation", [&] {
                     zero_grads(params);
                     net(t, y0).sum().backward();
                     return Counts{1, 1};
                   }});
  cases.push_back({"spiral solve, no grad", "NFE", [&] {
                     torch::NoGradGuard no_grad;
                     auto sol = dd::ode::solve(net, y0, ts, spiral);
                     return Counts{sol.stats->nfe, 0};
                   }});
  cases.push_back({"spiral step, direct", "NFE fwd/bwd", [&] { return training_step(dd::ode::Direct{}); }});
  cases.push_back({"spiral step, adjoint", "NFE fwd/bwd", [&] { return training_step(dd::ode::Adjoint{}); }});
  cases.push_back({"ffjord iteration, adjoint", "NFE fwd/bwd", [&] {
                     zero_grads(flow->parameters());
                     auto out = flow->forward(points);
                     (-out.log_prob.mean()).backward();
                     const auto stats = out.stats();
                     return Counts{stats.nfe, stats.nfe_backward};
                   }});
  cases.push_back({"ffjord log-likelihood, no grad", "NFE", [&] {
                     torch::NoGradGuard no_grad;
                     auto out = flow->forward(points);
                     return Counts{out.stats().nfe, 0};
                   }});
  cases.push_back({"deq forward, broyden", "iterations", [&] {
                     torch::NoGradGuard no_grad;
                     auto out = deq(x, z0);
                     return Counts{out.stats->steps, 0};
                   }});
  cases.push_back({"deq forward + implicit backward", "iterations fwd/bwd", [&] {
                     zero_grads(cell->parameters());
                     auto out = deq(x, z0);
                     out.z.pow(2).mean().backward();
                     return Counts{out.stats->steps, out.stats->steps_backward};
                   }});

  for (auto& c : cases) c.run();  // warm-up: allocator caches, lazy initialisation
  for (int r = 0; r < rounds; ++r)
    for (auto& c : cases) {
      const auto start = std::chrono::steady_clock::now();
      c.counts = c.run();
      c.ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }

  if (!json)
    std::printf("LibTorch %s, 1 thread, %d rounds\n%-34s %10s %10s  %s\n", TORCH_VERSION, rounds, "case", "median ms",
                "min ms", "counts");
  for (const auto& c : cases) {
    const double med = median(c.ms), min = *std::min_element(c.ms.begin(), c.ms.end());
    if (json)
      std::printf("{\"case\": \"%s\", \"median_ms\": %.6g, \"min_ms\": %.6g, \"forward\": %lld, \"backward\": %lld}\n",
                  c.name.c_str(), med, min, c.counts.forward, c.counts.backward);
    else
      std::printf("%-34s %10.3f %10.3f  %s %lld/%lld\n", c.name.c_str(), med, min, c.counts_meaning.c_str(),
                  c.counts.forward, c.counts.backward);
  }
  return 0;
}
