#pragma once
// Small RGB rasters written as PNG: grids of image frames with text (ODE2VAE's predictions).
// Plots with axes are the command's Figure (PLplot).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace deepdyn::io {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

/// An RGB raster with a few drawing primitives.
class Image {
 public:
  Image(int width, int height, Rgb background = {255, 255, 255});

  int width() const { return width_; }
  int height() const { return height_; }
  Rgb at(int x, int y) const;
  void set(int x, int y, Rgb color);  ///< ignores points outside the image
  /// Text in the 6-pixel stb_easy_font, scaled by an integer factor; (x, y) is the top left.
  void text(int x, int y, const std::string& text, Rgb color, int scale = 1);
  /// Width in pixels that text() covers.
  static int text_width(const std::string& text, int scale = 1);

  /// PNG bytes of the image.
  std::vector<uint8_t> png() const;
  /// Writes the PNG atomically (temporary file, then rename), so a crash never leaves half a file.
  void save_png(const std::string& path) const;

 private:
  int width_, height_;
  std::vector<uint8_t> pixels_;
};

/// Paints a 2-D tensor of intensities in [0, 1] (clamped) as gray, each entry a scale x scale
/// block, top left at (x, y), row 0 at the top (for image frames: 0 black, 1 white).
void gray_frame(Image& image, int x, int y, const torch::Tensor& values, int scale = 1);

}  // namespace deepdyn::io
