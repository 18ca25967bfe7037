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

}  // namespace deepdyn::io
