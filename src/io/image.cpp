#include "deepdyn/io/image.h"

#include "deepdyn/io/files.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>

namespace deepdyn::io {

Image::Image(int width, int height, Rgb background) : width_(width), height_(height) {
  TORCH_CHECK(width > 0 && height > 0, "an image needs a positive size, got ", width, "x", height);
  pixels_.resize(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < pixels_.size(); i += 3) {
    pixels_[i] = background.r;
    pixels_[i + 1] = background.g;
    pixels_[i + 2] = background.b;
  }
}

Rgb Image::at(int x, int y) const {
  TORCH_CHECK(x >= 0 && y >= 0 && x < width_ && y < height_, "pixel (", x, ", ", y, ") is outside the image");
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  return {pixels_[i], pixels_[i + 1], pixels_[i + 2]};
}

void Image::set(int x, int y, Rgb color) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  const size_t i = (static_cast<size_t>(y) * width_ + x) * 3;
  pixels_[i] = color.r;
  pixels_[i + 1] = color.g;
  pixels_[i + 2] = color.b;
}

void Image::line(double x0, double y0, double x1, double y1, Rgb color, int thickness) {
  const double length = std::max(std::abs(x1 - x0), std::abs(y1 - y0));
  const int steps = std::max(1, static_cast<int>(std::ceil(length)));
  const int lo = -(thickness - 1) / 2, hi = thickness / 2;
  for (int s = 0; s <= steps; ++s) {
    const double u = static_cast<double>(s) / steps;
    const int x = static_cast<int>(std::lround(x0 + u * (x1 - x0)));
    const int y = static_cast<int>(std::lround(y0 + u * (y1 - y0)));
    for (int dx = lo; dx <= hi; ++dx)
      for (int dy = lo; dy <= hi; ++dy) set(x + dx, y + dy, color);
  }
}

void Image::rectangle(int x0, int y0, int x1, int y1, Rgb color) {
  line(x0, y0, x1, y0, color);
  line(x1, y0, x1, y1, color);
  line(x1, y1, x0, y1, color);
  line(x0, y1, x0, y0, color);
}

void Image::text(int x, int y, const std::string& text, Rgb color, int scale) {
  // stb_easy_font emits quads of 4 vertices (x, y, z, rgba) for the glyph strokes.
  std::vector<char> buffer(text.size() * 300 + 300);
  const int quads = stb_easy_font_print(0, 0, const_cast<char*>(text.c_str()), nullptr, buffer.data(),
                                        static_cast<int>(buffer.size()));
  const auto* v = reinterpret_cast<const float*>(buffer.data());
  for (int q = 0; q < quads; ++q) {
    const float* quad = v + q * 16;
    const int qx0 = static_cast<int>(quad[0]), qy0 = static_cast<int>(quad[1]);
    const int qx1 = static_cast<int>(quad[8]), qy1 = static_cast<int>(quad[9]);
    for (int py = qy0 * scale; py < qy1 * scale; ++py)
      for (int px = qx0 * scale; px < qx1 * scale; ++px) set(x + px, y + py, color);
  }
}

int Image::text_width(const std::string& text, int scale) {
  return stb_easy_font_width(const_cast<char*>(text.c_str())) * scale;
}

std::vector<uint8_t> Image::png() const {
  std::vector<uint8_t> bytes;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<uint8_t>*>(context);
    const auto* begin = static_cast<const uint8_t*>(data);
    out->insert(out->end(), begin, begin + size);
  };
  const int ok = stbi_write_png_to_func(append, &bytes, width_, height_, 3, pixels_.data(), width_ * 3);
  TORCH_CHECK(ok != 0, "PNG encoding failed for a ", width_, "x", height_, " image");
  return bytes;
}

void Image::save_png(const std::string& path) const { write_file_atomically(path, png()); }

void heat_map(Image& image, int x, int y, const torch::Tensor& values) {
  TORCH_CHECK(values.dim() == 2, "heat_map needs a 2-D tensor, got shape ", values.sizes());
  auto v = values.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const double lo = v.min().item<double>(), hi = v.max().item<double>();
  auto scaled = (v - lo) / std::max(hi - lo, 1e-300);
  auto a = scaled.accessor<double, 2>();
  // Ramp black -> purple -> orange -> pale yellow, close to matplotlib's "inferno".
  static const double ramp[][3] = {{0, 0, 4}, {87, 16, 110}, {188, 55, 84}, {249, 142, 9}, {252, 255, 164}};
  for (int row = 0; row < a.size(0); ++row) {
    for (int col = 0; col < a.size(1); ++col) {
      const double u = a[row][col] * 4;
      const int k = std::min(static_cast<int>(u), 3);
      const double w = u - k;
      auto channel = [&](int c) { return static_cast<uint8_t>(ramp[k][c] + w * (ramp[k + 1][c] - ramp[k][c]) + 0.5); };
      image.set(x + col, y + row, {channel(0), channel(1), channel(2)});
    }
  }
}

void gray_frame(Image& image, int x, int y, const torch::Tensor& values, int scale) {
  TORCH_CHECK(values.dim() == 2, "gray_frame needs a 2-D tensor, got shape ", values.sizes());
  TORCH_CHECK(scale >= 1, "gray_frame: scale must be >= 1, got ", scale);
  auto v = values.detach().to(torch::kCPU, torch::kDouble).clamp(0, 1).contiguous();
  auto a = v.accessor<double, 2>();
  for (int row = 0; row < a.size(0); ++row) {
    for (int col = 0; col < a.size(1); ++col) {
      const auto level = static_cast<uint8_t>(a[row][col] * 255 + 0.5);
      for (int dy = 0; dy < scale; ++dy)
        for (int dx = 0; dx < scale; ++dx) image.set(x + col * scale + dx, y + row * scale + dy, {level, level, level});
    }
  }
}

namespace {

std::vector<double> to_vector(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 1, "Plot: ", name, " must be 1-D, got shape ", t.sizes());
  auto host = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return {host.data_ptr<double>(), host.data_ptr<double>() + host.numel()};
}

}  // namespace

Plot& Plot::line(const torch::Tensor& xs, const torch::Tensor& ys, Rgb color, std::string label, int thickness) {
  TORCH_CHECK(xs.numel() == ys.numel(), "Plot: xs and ys differ in length (", xs.numel(), " vs ", ys.numel(), ")");
  series_.push_back({to_vector(xs, "xs"), to_vector(ys, "ys"), color, std::move(label), std::max(1, thickness)});
  return *this;
}

Plot& Plot::points(const torch::Tensor& xs, const torch::Tensor& ys, Rgb color, std::string label) {
  TORCH_CHECK(xs.numel() == ys.numel(), "Plot: xs and ys differ in length (", xs.numel(), " vs ", ys.numel(), ")");
  series_.push_back({to_vector(xs, "xs"), to_vector(ys, "ys"), color, std::move(label), 0});
  return *this;
}

void Plot::render(Image& image, int x, int y, int width, int height) const {
  const Rgb black{0, 0, 0}, grey{170, 170, 170};
  const int margin = 10, title_height = 20;
  const int px0 = x + margin, py0 = y + title_height, px1 = x + width - margin, py1 = y + height - margin;
  image.text(px0, y + 4, title_, black, 2);
  image.rectangle(px0, py0, px1, py1, grey);
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& s : series_)
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (!std::isfinite(s.xs[i]) || !std::isfinite(s.ys[i])) continue;
      xmin = std::min(xmin, s.xs[i]), xmax = std::max(xmax, s.xs[i]);
      ymin = std::min(ymin, s.ys[i]), ymax = std::max(ymax, s.ys[i]);
    }
  if (!(xmax > xmin)) xmax = xmin + 1;
  if (!(ymax > ymin)) ymax = ymin + 1;
  const double pad_x = 0.04 * (xmax - xmin), pad_y = 0.04 * (ymax - ymin);
  auto to_px = [&](double v) { return px0 + (v - xmin + pad_x) / (xmax - xmin + 2 * pad_x) * (px1 - px0); };
  auto to_py = [&](double v) { return py1 - (v - ymin + pad_y) / (ymax - ymin + 2 * pad_y) * (py1 - py0); };
  int legend_width = 0;
  for (const auto& s : series_) legend_width = std::max(legend_width, Image::text_width(s.label, 2));
  const int legend_x = px1 - 8 - legend_width - 28;  // sample line, gap, text, right margin
  int legend_y = py0 + 6;
  for (const auto& s : series_) {
    for (size_t i = 0; i < s.xs.size(); ++i) {
      if (s.thickness == 0) {
        image.line(to_px(s.xs[i]), to_py(s.ys[i]), to_px(s.xs[i]), to_py(s.ys[i]), s.color, 2);
      } else if (i > 0) {
        image.line(to_px(s.xs[i - 1]), to_py(s.ys[i - 1]), to_px(s.xs[i]), to_py(s.ys[i]), s.color, s.thickness);
      }
    }
    if (!s.label.empty()) {
      image.line(legend_x, legend_y + 5, legend_x + 20, legend_y + 5, s.color, 3);
      image.text(legend_x + 28, legend_y, s.label, black, 2);
      legend_y += 20;
    }
  }
}

}  // namespace deepdyn::io
