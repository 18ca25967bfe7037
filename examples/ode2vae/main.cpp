// Trains ODE2VAE on bouncing balls or rotating Fashion-MNIST and compares its predictions with
// two baselines on held-out sequences.
//
//   example_ode2vae [data=bballs|fmnist] [epochs=40] [gamma=1] [seed=0] [train_sequences=1000]
//
// Data: bballs = 3 balls in 32x32 frames, 20 frames per sequence; fmnist = one Fashion-MNIST
// class (ankle boots, as the paper used one MNIST digit) rotated through 16 angles, 28x28.
// Model: convolutional encoders (s0 from frame 0, v0 from frames 0..2), Bayesian field
// [s, v] -> dv/dt with two hidden layers of 50 (tanh), RK4 with 5 steps between frames, the
// ELBO with beta = q / |W| and gamma times the KL between the ODE flow and the encoders.
// Adam (rate 1e-3, decayed 0.995 every 200 steps), batches of 20, and the reference
// implementation's curriculum on sequence length (an epoch is one pass over the training set).
//
// Evaluation on 200 test sequences, from the first m = 3 frames only, per-pixel mean squared
// error over the whole sequence (and over the predicted frames t >= m alone) of
//   ODE2VAE        encoder means, posterior-mean weights, decoded means;
//   last frame     the m observed frames, then the last of them repeated;
//   zero velocity  the same model with v held at 0 (s_t = s_0).
// Writes ode2vae_<data>_gamma<g>.png: for 4 test sequences, a row of true frames above a row of
// predicted frames. Exits 0 when ODE2VAE beats both baselines over the whole sequence.
#include <deepdyn/deepdyn.h>
#include <deepdyn/ode2vae/picture.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace dd = deepdyn;

namespace {

constexpr int64_t kBatch = 20;
constexpr int64_t kTestSequences = 200;
constexpr int64_t kAnkleBoot = 9;

struct Data {
  torch::Tensor train, test;
  std::vector<int64_t> frame_shape;
  int64_t latent;
};

Data make_data(const std::string& name, int64_t train_sequences, uint64_t seed) {
  if (name == "bballs") {
    return {dd::data::bouncing_balls(train_sequences, seed), dd::data::bouncing_balls(kTestSequences, seed + 1000003),
            {1, 32, 32}, 16};
  }
  TORCH_CHECK(name == "fmnist", "data must be bballs or fmnist, got '", name, "'");
  auto images = [&](dd::data::Split split, int64_t n, uint64_t s) {
    auto set = dd::data::load_fashion_mnist(split);
    auto chosen = set.images.index({set.labels == kAnkleBoot});
    TORCH_CHECK(chosen.size(0) >= n, "only ", chosen.size(0), " ankle boots in the split, asked for ", n);
    return dd::data::rotating_images(chosen.narrow(0, 0, n), s);
  };
  return {images(dd::data::Split::Train, train_sequences, seed), images(dd::data::Split::Test, kTestSequences, seed + 1),
          {1, 28, 28}, 8};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string data_name = argc > 1 ? argv[1] : "bballs";
    const int epochs = argc > 2 ? std::atoi(argv[2]) : 40;
    const double gamma = argc > 3 ? std::atof(argv[3]) : 1.0;
    const uint64_t seed = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 0;
    const int64_t train_sequences = argc > 5 ? std::atoll(argv[5]) : 1000;
    TORCH_CHECK(epochs >= 1 && gamma >= 0 && train_sequences >= kBatch,
                "need epochs >= 1, gamma >= 0 and train_sequences >= ", kBatch);
    auto data = make_data(data_name, train_sequences, seed);
    const int64_t frames = data.train.size(1);
    torch::manual_seed(seed);
    dd::ode2vae::ODE2VAE model(dd::ode2vae::ODE2VAEOptions(data.frame_shape, data.latent).gamma(gamma));
    const int64_t m = model->options().amortization();
    std::printf("ODE2VAE on %s: %lld training sequences of %lld frames, q = %lld, beta = %.2e, gamma = %g\n",
                data_name.c_str(), static_cast<long long>(train_sequences), static_cast<long long>(frames),
                static_cast<long long>(data.latent), model->beta(), gamma);
    const double rate = 1e-3;
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(rate));
    const auto start = std::chrono::steady_clock::now();
    int64_t step = 0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      const int64_t length = dd::ode2vae::curriculum_length(frames, m, epoch);
      auto order = torch::randperm(train_sequences);
      double loss = 0, log_likelihood = 0, encoder_kl = 0;
      int64_t batches = 0;
      for (int64_t b = 0; b + kBatch <= train_sequences; b += kBatch, ++batches, ++step) {
        for (auto& group : optimizer.param_groups())
          static_cast<torch::optim::AdamOptions&>(group.options()).lr(dd::ode2vae::decayed_learning_rate(rate, step));
        auto x = data.train.index_select(0, order.narrow(0, b, kBatch)).narrow(1, 0, length);
        auto out = model->forward(x);
        optimizer.zero_grad();
        out.loss.backward();
        optimizer.step();
        loss += out.loss.item<double>();
        log_likelihood += out.log_likelihood.item<double>() / double(length);
        encoder_kl += out.encoder_kl.item<double>();
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("epoch %3d  frames %2lld  loss %10.2f  log p(x|z) per frame %9.2f  KL[ode||enc] %8.2f  %.0f s\n",
                  epoch + 1, static_cast<long long>(length), loss / batches, log_likelihood / batches,
                  encoder_kl / batches, seconds);
      std::fflush(stdout);
    }
    const double training_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    model->eval();
    const auto report = dd::ode2vae::compare_predictions(model, data.test);
    std::printf("test MSE per pixel (whole sequence / frames t >= %lld), %lld sequences:\n",
                static_cast<long long>(m), static_cast<long long>(kTestSequences));
    std::printf("  ODE2VAE        %.5f / %.5f\n  last frame     %.5f / %.5f\n  zero velocity  %.5f / %.5f\n",
                report.model.whole, report.model.future, report.last_frame.whole, report.last_frame.future,
                report.zero_velocity.whole, report.zero_velocity.future);
    char path[64];
    std::snprintf(path, sizeof path, "ode2vae_%s_gamma%g.png", data_name.c_str(), gamma);
    dd::ode2vae::save_prediction_rows(data.test, report.predicted,
                                      "ODE2VAE " + data_name + ": true (top) and predicted from 3 frames (bottom)", path);
    std::printf("training %.0f s, %d epochs; picture %s\n", training_seconds, epochs, path);
    return report.model.whole < report.last_frame.whole && report.model.whole < report.zero_velocity.whole ? 0 : 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "%s\n", e.what_without_backtrace());
    return 2;
  }
}
