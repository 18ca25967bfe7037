// Peak memory and time of one forward+backward pass through a DEQ layer as the number of forward
// iterations grows 10x and 100x (issue 4): the implicit backward against backprop through the
// unrolled iterations. Cell z = tanh(z W^T + x U^T + b), width 256, inputs 784, ||W||_2 = 0.9,
// batch 256, float32, 1 thread. Both run N Picard iterations (tol 1e-30, so exactly N); the
// implicit backward solves its linear system by Broyden to relative residual 1e-6. Each
// measurement runs in a forked child (peak_memory.h).
//   bench_deq_memory [base_iterations=10]
#include <deepdyn/deepdyn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "peak_memory.h"
#include "tanh_cell.h"

namespace dd = deepdyn;

namespace {

constexpr int64_t kWidth = 256, kInputs = 784, kBatch = 256;

struct Measurement {
  double peak_mb, seconds;
  long long forward_iterations, backward_iterations;
};

Measurement implicit(TanhCell& cell, const torch::Tensor& x, int iterations) {
  const dd::bench::PeakMemory peak;
  const auto start = std::chrono::steady_clock::now();
  dd::deq::DEQ deq(cell, dd::deq::DEQOptions()
                             .forward(dd::deq::FixedPointOptions(dd::deq::Picard()).tol(1e-30).max_iterations(iterations))
                             .backward(dd::deq::Implicit(dd::deq::FixedPointOptions(dd::deq::Broyden()).tol(1e-6))));
  auto out = deq(x, torch::zeros({kBatch, kWidth}));
  out.z.pow(2).mean().backward();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {peak.megabytes(), seconds, out.stats->steps, out.stats->steps_backward};
}

Measurement unrolled(TanhCell& cell, const torch::Tensor& x, int iterations) {
  const dd::bench::PeakMemory peak;
  const auto start = std::chrono::steady_clock::now();
  auto z = torch::zeros({kBatch, kWidth});
  for (int k = 0; k < iterations; ++k) z = cell(z, x);
  z.pow(2).mean().backward();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {peak.megabytes(), seconds, iterations, iterations};
}

}  // namespace

int main(int argc, char** argv) {
  const int base = argc > 1 ? std::atoi(argv[1]) : 10;
  torch::set_num_threads(1);
  torch::manual_seed(0);
  TanhCell cell(kWidth, kInputs);
  const auto x = torch::randn({kBatch, kInputs});
  std::printf("forward+backward of a DEQ tanh cell, width %lld, batch %lld, float32, 1 thread\n",
              static_cast<long long>(kWidth), static_cast<long long>(kBatch));
  std::printf("%-10s %10s %10s %10s %9s %12s\n", "backward", "forward it", "peak MB", "vs first", "time s",
              "backward it");
  using Run = Measurement (*)(TanhCell&, const torch::Tensor&, int);
  const std::pair<const char*, Run> runs[] = {{"implicit", implicit}, {"unrolled", unrolled}};
  for (const auto& [name, run] : runs) {
    double first = 0;
    for (int iterations : {base, 10 * base, 100 * base}) {
      const auto m = dd::bench::in_child<Measurement>([&] { return run(cell, x, iterations); });
      if (first == 0) first = m.peak_mb;
      std::printf("%-10s %10lld %10.1f %9.2fx %9.3f %12lld\n", name, m.forward_iterations, m.peak_mb, m.peak_mb / first,
                  m.seconds, m.backward_iterations);
    }
  }
  return 0;
}
