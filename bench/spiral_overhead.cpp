// Solver overhead on the spiral problem (issue 2): how much time dopri5 adds on
// top of the field evaluations it needs.
//   overhead ratio = median solve time / (NFE x median time of one field evaluation)
// Measurements of the solve and of the isolated field are interleaved, round by
// round, so machine noise hits both alike. Usage: bench_spiral_overhead [rounds] [threads]
#include <deepdyn/deepdyn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "spiral_field.h"

namespace dd = deepdyn;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

template <class F>
double seconds(F&& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 15;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 1;
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;  // the overhead of the solver itself, as in inference

  SpiralNet net;
  auto y0 = torch::randn({1024, 2}) * 0.5;
  auto ts = torch::tensor({0.0, 10.0}, torch::kFloat64);
  auto opts = dd::ode::SolveOptions().method(dd::ode::Method::Dopri5).rtol(1e-6).atol(1e-8);
  auto t = torch::scalar_tensor(0.5);

  auto warm = dd::ode::solve(net, y0, ts, opts);
  const int64_t nfe = warm.stats->nfe;
  const int field_calls = static_cast<int>(nfe);

  std::vector<double> solve_times, field_times;
  for (int r = 0; r < rounds; ++r) {
    solve_times.push_back(seconds([&] { dd::ode::solve(net, y0, ts, opts); }));
    field_times.push_back(seconds([&] {
                            for (int i = 0; i < field_calls; ++i) net(t, y0);
                          }) /
                          field_calls);
  }
  const double solve_s = median(solve_times), field_s = median(field_times);
  std::printf("spiral dopri5 batch 1024 float32, rtol 1e-6 atol 1e-8, t in [0, 10], %d thread(s), %d rounds\n", threads,
              rounds);
  std::printf("  NFE                      %lld (steps %lld: %lld accepted, %lld rejected)\n",
              static_cast<long long>(nfe), static_cast<long long>(warm.stats->steps),
              static_cast<long long>(warm.stats->accepted), static_cast<long long>(warm.stats->rejected));
  std::printf("  median solve time        %.3f ms\n", solve_s * 1e3);
  std::printf("  median field evaluation  %.2f us\n", field_s * 1e6);
  std::printf("  overhead ratio           %.3f  (solve / (NFE x field); goal <= 1.15)\n", solve_s / (nfe * field_s));
  return 0;
}
