// deepdyn train deq: a deep equilibrium classifier on Fashion-MNIST (Debian's dataset-fashion-mnist)
// or on labelled images of one's own (data/images.h: IDX or .npy/.pt, any size, any number of
// classes). Pixels are standardised by the training images' mean and standard deviation.
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
        train_(load(c["data"].get<std::string>(), data::Split::Train)),
        test_(load(c["data"].get<std::string>(), data::Split::Test)),
        classes_(train_.labels.max().item<int64_t>() + 1),
        model_(train_.images[0].numel(), c["width"].get<int64_t>(), classes_, options(c)) {
    const auto shape = train_.images.sizes().slice(1), test_shape = test_.images.sizes().slice(1);
    TORCH_CHECK(shape == test_shape, "the test images are ", test_shape, ", the training images ", shape,
                ": both splits need one image shape");
    TORCH_CHECK(test_.labels.max().item<int64_t>() < classes_, "test label ", test_.labels.max().item<int64_t>(),
                " has no training images: the training labels number ", classes_, " classes, 0 to ", classes_ - 1);
    const double mean = train_.images.mean().item<double>(), deviation = train_.images.std().item<double>();
    for (auto* set : {&train_, &test_})
      set->images = ((set->images - mean) / (deviation > 0 ? deviation : 1.0)).to(setup_.device, setup_.dtype);
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
    return {{"accuracy", double(correct) / double(n)}, {"test_images", n}, {"classes", classes_}};
  }

  Headline headline() const override { return {"accuracy", false}; }

  Table sample(const SampleRequest&) override {
    TORCH_CHECK(false, "a deq run is a classifier: it has nothing to sample; use deepdyn eval for its accuracy");
  }

  std::vector<std::string> write_outputs(const std::string&) override { return {}; }
  torch::nn::Module& model() override { return *model_; }

 private:
  static data::LabelledImages load(const std::string& name, data::Split split) {
    return name == "fashion-mnist" ? data::load_fashion_mnist(split) : data::load_labelled_images(name, split);
  }

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
  int64_t classes_;
  deq::DEQClassifier model_;
};

}  // namespace

Schema deq_schema() {
  return with_common_settings(
      {
          {"data", "fashion-mnist",
           "fashion-mnist (Debian's dataset-fashion-mnist) or a directory of labelled images: MNIST's IDX files "
           "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz], or {train,test}_{images,labels}.npy/.pt with images "
           "[N, H, W] or [N, C, H, W] and labels 0..classes-1"},
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
