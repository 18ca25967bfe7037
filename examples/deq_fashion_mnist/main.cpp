// Trains a deep equilibrium classifier on Fashion-MNIST (Debian's dataset-fashion-mnist) and
// compares the implicit backward with the one-step (Jacobian-free) gradient.
//
// Model: x (784 pixels, standardised) -> injection u = U x + c, a DEQ layer
//   z* = f(z*, u),  f(z, u) = tanh(LayerNorm(W z + u)),  width 256,
// then logits = V z* + d. The forward fixed point is found by Broyden's method (relative residual
// 1e-4, at most 30 iterations); the implicit backward solves u = u J + dL/dz* by Broyden too.
// Adam (learning rate 1e-3, cosine decay), batches of 128, cross entropy.
//
//   example_deq_fashion_mnist [backward=both|implicit|jacobian_free|phantom] [epochs=4] [seed=0]
//
// Prints per epoch: loss, test accuracy, mean forward and backward solver iterations, time.
// Exits 0 when every run reaches 85% test accuracy within 20 minutes.
#include <deepdyn/deepdyn.h>
#include <deepdyn/deq/classifier.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace dd = deepdyn;

namespace {

constexpr int64_t kWidth = 256;
constexpr int64_t kBatch = 128;
constexpr double kTargetAccuracy = 0.85;
constexpr double kTimeLimitSeconds = 20 * 60;

struct EpochReport {
  double loss = 0, accuracy = 0, forward_iterations = 0, backward_iterations = 0, seconds = 0;
  double unconverged_fraction = 0;
};

double test_accuracy(dd::deq::DEQClassifier& model, const dd::data::LabelledImages& test) {
  torch::NoGradGuard no_grad;
  model->eval();
  int64_t correct = 0;
  for (int64_t start = 0; start < test.images.size(0); start += 1000) {
    auto images = test.images.narrow(0, start, std::min<int64_t>(1000, test.images.size(0) - start));
    auto labels = test.labels.narrow(0, start, images.size(0));
    correct += model->forward(images).first.argmax(1).eq(labels).sum().item<int64_t>();
  }
  model->train();
  return double(correct) / double(test.images.size(0));
}

struct RunResult {
  double accuracy = 0, seconds = 0;
};

RunResult train(const std::string& backward_name, int epochs, uint64_t seed, const dd::data::LabelledImages& train_set,
                const dd::data::LabelledImages& test) {
  torch::manual_seed(seed);
  auto backward = dd::deq::parse_backward(backward_name);
  if (auto* implicit = std::get_if<dd::deq::Implicit>(&backward))
    implicit->solver(dd::deq::SolverOptions(dd::deq::Broyden()).tol(1e-4).max_iterations(30));
  auto options = dd::deq::DEQOptions()
                     .forward(dd::deq::SolverOptions(dd::deq::Broyden()).tol(1e-4).max_iterations(30))
                     .backward(backward);
  dd::deq::DEQClassifier model(28 * 28, kWidth, 10, options);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  const int64_t n = train_set.images.size(0);
  const int64_t batches_per_epoch = n / kBatch;
  const double total_steps = double(batches_per_epoch) * epochs;
  std::printf("== %s backward: %d epochs of %lld batches\n", backward_name.c_str(), epochs,
              static_cast<long long>(batches_per_epoch));
  const auto start = std::chrono::steady_clock::now();
  RunResult result;
  int64_t step = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    auto order = torch::randperm(n, torch::kInt64);
    EpochReport report;
    int64_t unconverged = 0;
    for (int64_t b = 0; b < batches_per_epoch; ++b, ++step) {
      // Cosine decay of the learning rate from 1e-3 to 0 over the run.
      const double lr = 0.5e-3 * (1 + std::cos(M_PI * double(step) / total_steps));
      for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
      auto index = order.narrow(0, b * kBatch, kBatch);
      auto [logits, out] = model->forward(train_set.images.index_select(0, index));
      auto loss = torch::nn::functional::cross_entropy(logits, train_set.labels.index_select(0, index));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      report.loss += loss.item<double>();
      report.forward_iterations += double(out.forward.iterations);
      report.backward_iterations += double(out.backward->iterations);
      unconverged += out.forward.converged ? 0 : 1;
    }
    const double batches = double(batches_per_epoch);
    report.loss /= batches;
    report.forward_iterations /= batches;
    report.backward_iterations /= batches;
    report.unconverged_fraction = double(unconverged) / batches;
    report.accuracy = test_accuracy(model, test);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    std::printf(
        "epoch %d  loss %.4f  test accuracy %.4f  forward iterations %.1f (unconverged batches %.1f%%)  "
        "backward iterations %.1f  %.0f s\n",
        epoch, report.loss, report.accuracy, report.forward_iterations, 100 * report.unconverged_fraction,
        report.backward_iterations, report.seconds);
    std::fflush(stdout);
    result.accuracy = report.accuracy;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: test accuracy %.4f in %.0f s\n", backward_name.c_str(), result.accuracy, result.seconds);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string which = argc > 1 ? argv[1] : "both";
  const int epochs = argc > 2 ? std::atoi(argv[2]) : 4;
  const uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 0;
  if (epochs < 1) {
    std::fprintf(stderr, "epochs must be >= 1, got %d\n", epochs);
    return 2;
  }
  try {
    const auto backwards =
        which == "both" ? std::vector<std::string>{"implicit", "jacobian_free"} : std::vector<std::string>{which};
    for (const auto& backward : backwards) dd::deq::parse_backward(backward);  // refuse a bad name before loading data
    auto train_set = dd::data::load_fashion_mnist(dd::data::Split::Train);
    auto test = dd::data::load_fashion_mnist(dd::data::Split::Test);
    for (auto* set : {&train_set, &test}) set->images = dd::data::standardize_fashion_mnist(set->images);
    bool ok = true;
    for (const auto& backward : backwards) {
      const auto result = train(backward, epochs, seed, train_set, test);
      ok = ok && result.accuracy >= kTargetAccuracy && result.seconds <= kTimeLimitSeconds;
    }
    return ok ? 0 : 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "%s\n", e.what_without_backtrace());
    return 2;
  }
}
