// deepdyn train deq: a deep equilibrium classifier on Fashion-MNIST (Debian's dataset-fashion-mnist).
#include <deepdyn/deepdyn.h>
#include <deepdyn/deq/classifier.h>

#include "task.h"

namespace deepdyn::cli {
namespace {

class DEQTask : public Task {
 public:
  DEQTask(const Json& c, const Setup& setup)
      : setup_(setup),
        batch_(c["batch"].get<int64_t>()),
        eval_images_(c["eval_images"].get<int64_t>()),
        train_(data::load_fashion_mnist(data::Split::Train)),
        test_(data::load_fashion_mnist(data::Split::Test)),
        model_(28 * 28, c["width"].get<int64_t>(), 10, options(c)) {
    for (auto* set : {&train_, &test_}) set->images = data::standardize_fashion_mnist(set->images).to(setup_.device, setup_.dtype);
    model_->to(setup_.device, setup_.dtype);
    setup_.shard.check(batch_, "batch");
  }

  StepMetrics gradients(int64_t iteration) override {
    auto generator = iteration_generator(setup_.seed, iteration);
    auto index = setup_.shard.of(torch::randint(train_.images.size(0), {batch_}, generator, torch::kLong));
    auto [logits, out] = model_->forward(train_.images.index_select(0, index.to(setup_.device)));
    auto loss = torch::nn::functional::cross_entropy(logits, train_.labels.index_select(0, index).to(setup_.device));
    loss.backward();
    return {loss.item<double>(), out.stats->nfe, out.stats->nfe_backward};
  }

  Json evaluate() override {
    torch::NoGradGuard no_grad;
    const int64_t n = std::min(eval_images_, test_.images.size(0));
    int64_t correct = 0;
    for (int64_t start = 0; start < n; start += 1000) {
      const int64_t count = std::min<int64_t>(1000, n - start);
      auto logits = model_->forward(test_.images.narrow(0, start, count)).first;
      correct += logits.argmax(1).cpu().eq(test_.labels.narrow(0, start, count)).sum().item<int64_t>();
    }
    return {{"accuracy", double(correct) / double(n)}, {"test_images", n}};
  }

  Headline headline() const override { return {"accuracy", false}; }

  Table sample(const SampleRequest&) override {
    TORCH_CHECK(false, "a deq run is a classifier: it has nothing to sample; use deepdyn eval for its accuracy");
  }

  std::vector<std::string> write_outputs(const std::string&) override { return {}; }
  torch::nn::Module& model() override { return *model_; }

 private:
  static deq::DEQOptions options(const Json& c) {
    auto solver = deq::FixedPointOptions(deq::parse_method(c["solver"].get<std::string>()))
                      .tol(c["tol"].get<double>())
                      .max_iterations(c["max_iterations"].get<int64_t>());
    auto backward = deq::parse_backward(c["backward"].get<std::string>());
    if (auto* implicit = std::get_if<deq::Implicit>(&backward)) implicit->solver(solver);
    return deq::DEQOptions().forward(solver).backward(backward);
  }

  Setup setup_;
  int64_t batch_, eval_images_;
  data::LabelledImages train_, test_;
  deq::DEQClassifier model_;
};

}  // namespace

Schema deq_schema() {
  return with_common_settings(
      {
          {"batch", 128, "images per iteration", {}, {}, 1},
          {"width", 256, "width of the equilibrium state", {}, {}, 1},
          {"solver", "broyden", "fixed-point solver (forward and implicit backward)", deq::method_names()},
          {"tol", 1e-4, "relative residual tolerance", {}, 0.0},
          {"max_iterations", 30, "solver iterations", {}, {}, 1},
          {"backward", "implicit", "gradient", deq::backward_names()},
          {"eval_images", 10000, "test images of eval", {}, {}, 1},
      },
      1000);
}

std::unique_ptr<Task> make_deq_task(const Json& config, const Setup& setup) {
  return std::make_unique<DEQTask>(config, setup);
}

}  // namespace deepdyn::cli
