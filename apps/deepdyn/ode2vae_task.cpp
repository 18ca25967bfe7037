// deepdyn train ode2vae: ODE2VAE on bouncing balls (3 balls, 32x32) made from the run's seed, or on
// rotating Fashion-MNIST ankle boots (16 angles, 28x28; the paper used one MNIST digit).
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/image.h>

#include "task.h"

namespace deepdyn::cli {
namespace {

/// Rows of true frames above predicted frames of the first `rows` sequences [N, T, 1, H, W].
void save_prediction_rows(const torch::Tensor& truth, const torch::Tensor& predicted, const std::string& title,
                          const std::string& path, int rows = 4) {
  TORCH_CHECK(truth.dim() == 5 && truth.size(2) == 1 && predicted.sizes() == truth.sizes(),
              "save_prediction_rows needs truth and predicted [N, T, 1, H, W] of one shape, got ", truth.sizes(),
              " and ", predicted.sizes());
  rows = std::min<int>(rows, static_cast<int>(truth.size(0)));
  const int frames = static_cast<int>(truth.size(1)), size = static_cast<int>(truth.size(-1));
  const int cell = size + 2, top = 24, left = 90;
  io::Image image(frames * cell + left, top + rows * (2 * cell + 8), {255, 255, 255});
  image.text(4, 6, title, {0, 0, 0});
  for (int i = 0; i < rows; ++i) {
    const int y = top + i * (2 * cell + 8);
    image.text(4, y + size / 2 - 4, "true", {0, 0, 0});
    image.text(4, y + cell + size / 2 - 4, "predicted", {0, 0, 0});
    for (int t = 0; t < frames; ++t) {
      io::gray_frame(image, left + t * cell, y, truth[i][t][0]);
      io::gray_frame(image, left + t * cell, y + cell, predicted[i][t][0]);
    }
  }
  image.save_png(path);
}

class ODE2VAETask : public Task {
 public:
  ODE2VAETask(const Json& c, const Setup& setup)
      : setup_(setup),
        batch_(c["batch"].get<int64_t>()),
        title_(c["data"] == "bballs" ? "ODE2VAE bouncing balls" : "ODE2VAE rotating ankle boots"),
        train_(sequences(c, "sequences", data::Split::Train, setup_.seed).to(setup_.device, setup_.dtype)),
        test_(sequences(c, "eval_sequences", data::Split::Test, setup_.seed + 1000003).to(setup_.device, setup_.dtype)),
        model_(ode2vae::ODE2VAEOptions(train_.sizes().slice(2).vec(), c["latent"].get<int64_t>())
                   .gamma(c["gamma"].get<double>())
                   .field_hidden(c["field_hidden"].get<std::vector<int64_t>>())) {
    model_->to(setup_.device, setup_.dtype);
    setup_.shard.check(batch_, "batch");
  }

  StepMetrics gradients(int64_t iteration) override {
    // The reference implementation's curriculum on sequence length (its learning-rate decay is the
    // step_decay schedule of the training unit).
    const int64_t epoch = (iteration - 1) * batch_ / train_.size(0);
    const int64_t length = ode2vae::curriculum_length(train_.size(1), model_->options().amortization(), epoch);
    auto generator = iteration_generator(setup_.seed, iteration);
    auto index = setup_.shard.of(torch::randint(train_.size(0), {batch_}, generator, torch::kLong)).to(setup_.device);
    auto out = model_->forward(train_.index_select(0, index).narrow(1, 0, length));
    out.loss.backward();
    return {out.loss.item<double>(), out.stats->nfe, out.stats->nfe_backward};
  }

  Json evaluate() override {
    torch::NoGradGuard no_grad;
    const auto r = ode2vae::compare_predictions(model_, test_);
    return {{"mse", r.model.whole},
            {"mse_predicted_frames", r.model.future},
            {"last_frame_mse", r.last_frame.whole},
            {"zero_velocity_mse", r.zero_velocity.whole},
            {"test_sequences", test_.size(0)}};
  }

  Headline headline() const override { return {"mse", true}; }

  /// n sequences generated from the prior, one row of frames x pixels per sequence.
  Table sample(const SampleRequest& request) override {
    return table_of_draws(model_->generate(request.n, train_.size(1)), request, "ode2vae");
  }

  std::vector<std::string> write_outputs(const std::string& directory) override {
    torch::NoGradGuard no_grad;
    auto predicted = model_->predict(test_, test_.size(1));
    save_prediction_rows(test_.cpu(), predicted.cpu(), title_ + ": true (top), predicted from 3 frames",
                                  directory + "/predictions.png");
    return {"predictions.png"};
  }

  torch::nn::Module& model() override { return *model_; }

 private:
  /// The `count_key` sequences of the config's data: [n, frames, 1, H, W] in [0, 1].
  static torch::Tensor sequences(const Json& c, const char* count_key, data::Split split, uint64_t seed) {
    const int64_t n = c[count_key].get<int64_t>();
    if (c["data"] == "bballs")
      return data::bouncing_balls(n, seed, data::BouncingBallsOptions().frames(c["frames"].get<int64_t>()));
    constexpr int64_t kAnkleBoot = 9;
    const auto set = data::load_fashion_mnist(split);
    const auto boots = set.images.index({set.labels == kAnkleBoot});
    TORCH_CHECK(boots.size(0) >= n, "config key '", count_key, "' = ", n, " asks for more ankle boots than the ",
                split == data::Split::Train ? "training" : "test", " split holds (", boots.size(0), ")");
    return data::rotating_images(boots.narrow(0, 0, n), seed);
  }

  Setup setup_;
  int64_t batch_;
  std::string title_;
  torch::Tensor train_, test_;
  ode2vae::ODE2VAE model_;
};

}  // namespace

Schema ode2vae_schema() {
  return with_common_settings(
      {
          {"data", "bballs", "bouncing balls, or rotating Fashion-MNIST ankle boots", {"bballs", "fmnist"}},
          {"batch", 20, "sequences per iteration", {}, {}, 1},
          {"sequences", 500, "training sequences", {}, {}, 1},
          {"eval_sequences", 200, "held-out sequences of eval", {}, {}, 1},
          {"frames", 20, "frames per bouncing-ball sequence (fmnist: 16 angles)", {}, {}, 4},
          {"latent", 16, "size q of the position and of the velocity", {}, {}, 1},
          {"field_hidden", Json::array({50, 50}), "hidden widths of the Bayesian field", {}, 0.0},
          {"gamma", 1.0, "weight of KL(q_ode || q_enc)", {}, {}, 0.0},
      },
      750, {{"lr_schedule", "step_decay"}});
}

std::unique_ptr<Task> make_ode2vae_task(const Json& config, const Setup& setup) {
  return std::make_unique<ODE2VAETask>(config, setup);
}

}  // namespace deepdyn::cli
