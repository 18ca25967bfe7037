// deepdyn train ode2vae: ODE2VAE on bouncing balls (3 balls, 32x32) made from the run's seed, on
// rotating Fashion-MNIST ankle boots (16 angles, 28x28; the paper used one MNIST digit), or on
// sequences of one's own from a .npy/.pt file (frames [N, T, C, H, W] or vectors [N, T, D]).
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/arrays.h>
#include <deepdyn/io/image.h>

#include "figure.h"
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

/// The first components of the first sequences of vectors [N, T, D] over the frames: true (dots)
/// and predicted (lines), one panel per sequence.
void save_prediction_curves(const torch::Tensor& truth, const torch::Tensor& predicted, const std::string& title,
                            const std::string& path) {
  const int panels = int(std::min<int64_t>(truth.size(0), 3));
  const Rgb colours[] = {{40, 80, 220}, {220, 60, 40}, {40, 160, 60}};
  const auto frames = torch::arange(truth.size(1), torch::kFloat64);
  Figure figure(420 * panels, 420, panels, 1);
  for (int i = 0; i < panels; ++i) {
    auto& panel = figure.panel(i).title(i == 0 ? title : "sequence " + std::to_string(i)).labels("frame", "value");
    for (int64_t j = 0; j < std::min<int64_t>(truth.size(2), 3); ++j)
      panel.points(frames, truth[i].select(1, j), colours[j])
          .line(frames, predicted[i].select(1, j), colours[j], "x" + std::to_string(j + 1));
  }
  figure.save_png(path);
}

class ODE2VAETask : public Task {
 public:
  ODE2VAETask(const Json& c, const Setup& setup)
      : setup_(setup),
        batch_(c["batch"].get<int64_t>()),
        title_(c["data"] == "bballs"   ? "ODE2VAE bouncing balls"
               : c["data"] == "fmnist" ? "ODE2VAE rotating ankle boots"
                                       : "ODE2VAE"),
        model_(nullptr) {
    std::tie(train_, test_) = sequences(c, setup_.seed);
    train_ = train_.to(setup_.device, setup_.dtype), test_ = test_.to(setup_.device, setup_.dtype);
    model_ = ode2vae::ODE2VAE(ode2vae::ODE2VAEOptions(train_.sizes().slice(2).vec(), c["latent"].get<int64_t>())
                                  .gamma(c["gamma"].get<double>())
                                  .field_hidden(c["field_hidden"].get<std::vector<int64_t>>()));
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
    auto predicted = model_->predict(test_, test_.size(1)).cpu();
    const auto title = title_ + ": true, predicted from 3 frames";
    if (test_.dim() == 3) {
      save_prediction_curves(test_.cpu().to(torch::kFloat64), predicted.to(torch::kFloat64), title,
                             directory + "/predictions.png");
    } else {  // frames: the first channel
      save_prediction_rows(test_.cpu().narrow(2, 0, 1), predicted.narrow(2, 0, 1), title + " (top: true)",
                           directory + "/predictions.png");
    }
    return {"predictions.png"};
  }

  torch::nn::Module& model() override { return *model_; }

 private:
  /// Training and held-out sequences of the config's data: [n, frames, 1, H, W] in [0, 1] for the
  /// built-in sets; a file's [N, T, ...] split by a fixed random draw of `holdout` of them.
  static std::pair<torch::Tensor, torch::Tensor> sequences(const Json& c, uint64_t seed) {
    const auto name = c["data"].get<std::string>();
    if (name == "bballs" || name == "fmnist")
      return {built_in(c, "sequences", data::Split::Train, seed),
              built_in(c, "eval_sequences", data::Split::Test, seed + 1000003)};
    TORCH_CHECK(io::has_extension(name, ".npy") || io::has_extension(name, ".pt"),
                "config key 'data' must be bballs, fmnist or a sequences file ending in .npy or .pt, got '", name, "'");
    const auto all = data::read_sequences(name);
    if (all.dim() == 5)
      TORCH_CHECK(all.size(3) == all.size(4) && all.size(3) % 4 == 0, "sequences file '", name, "': frames of ",
                  all.size(3), "x", all.size(4),
                  "; ODE2VAE's convolutional encoder needs square frames whose side is a ",
                  "multiple of 4 (pad or crop them)");
    const int64_t amortization = ode2vae::ODE2VAEOptions({1}, 1).amortization();
    TORCH_CHECK(all.size(1) > amortization, "sequences file '", name, "': sequences of ", all.size(1),
                " steps; ODE2VAE encodes the velocity from the first ", amortization, " and needs more to predict");
    const int64_t n = all.size(0), held = std::llround(c["holdout"].get<double>() * double(n));
    TORCH_CHECK(held >= 1 && n - held >= 1, "sequences file '", name, "' has ", n,
                " sequences: holdout = ", c["holdout"].get<double>(),
                " must leave one or more held out and one or more to train on");
    const auto [train, held_out] = fixed_split(n, held);
    return {all.index_select(0, train), all.index_select(0, held_out)};
  }

  /// The `count_key` sequences of a built-in set.
  static torch::Tensor built_in(const Json& c, const char* count_key, data::Split split, uint64_t seed) {
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
          {"data", "bballs",
           "bballs (bouncing balls), fmnist (rotating Fashion-MNIST ankle boots), or a sequences file .npy/.pt: "
           "frames [N, T, C, H, W] in [0, 1] (or bytes) with square sides a multiple of 4, or vectors [N, T, D]"},
          {"holdout", 0.2, "fraction of a file's sequences held out for evaluation", {}, 0.0, {}, 1.0},
          {"batch", 20, "sequences per iteration", {}, {}, 1},
          {"sequences", 500, "training sequences of a built-in set", {}, {}, 1},
          {"eval_sequences", 200, "held-out sequences of a built-in set", {}, {}, 1},
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
