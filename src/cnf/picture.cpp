#include "deepdyn/cnf/picture.h"

#include "deepdyn/io/image.h"

namespace deepdyn::cnf {

void save_density_picture(CNF& flow, const torch::Tensor& data, const std::string& title, const std::string& path,
                          double extent) {
  TORCH_CHECK(flow->options().dim() == 2, "save_density_picture needs a 2-D flow, got dimension ", flow->options().dim());
  torch::NoGradGuard no_grad;
  const auto dtype = flow->blocks[0]->parameters()[0].scalar_type();
  const int pixels = 240;
  auto axis = torch::linspace(-extent, extent, pixels, torch::TensorOptions().dtype(dtype));
  auto grid = torch::stack(torch::meshgrid({axis.flip(0), axis}, "ij"), -1)
                  .reshape({-1, 2})
                  .index_select(1, torch::tensor({1, 0}));
  auto density = flow->log_prob(grid).exp().reshape({pixels, pixels});
  auto samples = flow->sample(4000).to(torch::kFloat32);
  const int panel = pixels + 40;
  io::Image image(3 * panel, panel + 20);
  image.text(10, 4, title, {0, 0, 0}, 2);
  io::heat_map(image, 20, 40, density);
  image.text(20, 30, "learned density", {0, 0, 0});
  const std::pair<const char*, torch::Tensor> scatters[] = {{"model samples", samples},
                                                            {"data", data.to(torch::kFloat32)}};
  for (int k = 0; k < 2; ++k) {
    const int x0 = (k + 1) * panel + 20;
    image.text(x0, 30, scatters[k].first, {0, 0, 0});
    image.rectangle(x0, 40, x0 + pixels - 1, 40 + pixels - 1, {120, 120, 120});
    auto points = scatters[k].second.contiguous();
    auto a = points.accessor<float, 2>();
    for (int64_t i = 0; i < points.size(0); ++i) {
      const int px = x0 + static_cast<int>((a[i][0] + extent) / (2 * extent) * (pixels - 1));
      const int py = 40 + static_cast<int>((extent - a[i][1]) / (2 * extent) * (pixels - 1));
      if (px > x0 && px < x0 + pixels - 1 && py > 40 && py < 40 + pixels - 1) image.set(px, py, {30, 60, 200});
    }
  }
  image.save_png(path);
}

}  // namespace deepdyn::cnf
