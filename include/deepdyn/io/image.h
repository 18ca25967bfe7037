#pragma once
// Small raster plots written as PNG: enough to look at trajectories, densities
// and samples without leaving C++.
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
  /// A line of the given thickness in pixels (Bresenham, square brush).
  void line(double x0, double y0, double x1, double y1, Rgb color, int thickness = 1);
  void rectangle(int x0, int y0, int x1, int y1, Rgb color);  ///< outline
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

/// Paints a 2-D tensor of values one pixel per entry, top left at (x, y), row 0 at the top, on a
/// dark-to-bright colour ramp scaled from the tensor's minimum to its maximum (for densities).
void heat_map(Image& image, int x, int y, const torch::Tensor& values);

/// Paints a 2-D tensor of intensities in [0, 1] (clamped) as gray, each entry a scale x scale
/// block, top left at (x, y), row 0 at the top (for image frames: 0 black, 1 white).
void gray_frame(Image& image, int x, int y, const torch::Tensor& values, int scale = 1);

/// Line and scatter plots in one framed panel; data coordinates are fitted to the panel.
class Plot {
 public:
  explicit Plot(std::string title) : title_(std::move(title)) {}
  /// A polyline through (xs[i], ys[i]); xs and ys are 1-D tensors of equal length.
  Plot& line(const torch::Tensor& xs, const torch::Tensor& ys, Rgb color, std::string label = "", int thickness = 2);
  /// Points at (xs[i], ys[i]).
  Plot& points(const torch::Tensor& xs, const torch::Tensor& ys, Rgb color, std::string label = "");
  /// Draws the panel into the rectangle of `image` with top left (x, y) and the given size.
  void render(Image& image, int x, int y, int width, int height) const;

 private:
  struct Series {
    std::vector<double> xs, ys;
    Rgb color;
    std::string label;
    int thickness;  ///< 0: points
  };
  std::string title_;
  std::vector<Series> series_;
};

}  // namespace deepdyn::io
