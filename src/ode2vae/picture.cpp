#include "deepdyn/ode2vae/picture.h"

#include "deepdyn/io/image.h"

namespace deepdyn::ode2vae {

void save_prediction_rows(const torch::Tensor& truth, const torch::Tensor& predicted, const std::string& title,
                          const std::string& path, int rows) {
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

}  // namespace deepdyn::ode2vae
