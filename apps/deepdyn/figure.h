#pragma once
// The command's figures, for people to read, drawn by PLplot's cairo PNG driver: panels with axes, ticks and
// numbers, axis labels, titles, legends, log scales, and images with a colour bar.
#include <deepdyn/io/image.h>
#include <torch/torch.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace deepdyn::cli {

using io::Rgb;

/// One panel of a Figure. The axes cover the data (or `limits`) with a margin.
class Panel {
 public:
  Panel& title(std::string text);
  Panel& labels(std::string x, std::string y);
  /// y on a log10 axis; values <= 0 are left out.
  Panel& log_y(bool on = true);
  /// One unit equally long on both axes (phase portraits, densities).
  Panel& equal_aspect(bool on = true);
  /// The axes' ranges [x0, x1] x [y0, y1] instead of the data's.
  Panel& limits(double x0, double x1, double y0, double y1);
  /// A line through (xs[i], ys[i]) (1-D tensors of equal length); non-finite points are skipped.
  Panel& line(const torch::Tensor& xs, const torch::Tensor& ys, Rgb color, std::string label = "");
  /// A dot at each (xs[i], ys[i]).
  Panel& points(const torch::Tensor& xs, const torch::Tensor& ys, Rgb color, std::string label = "");
  /// values [rows, columns] painted over [x0, x1] x [y0, y1], row 0 at y0, on a dark-to-bright
  /// colour map with a colour bar named `name`.
  Panel& image(const torch::Tensor& values, std::array<double, 4> extent, std::string name);

 private:
  friend class Figure;
  struct Series {
    std::vector<double> xs, ys;
    Rgb color;
    std::string label;
    bool dots;
  };
  struct Picture {
    torch::Tensor values;  // float64 [rows, columns]
    std::array<double, 4> extent;
    std::string name;
  };
  std::string title_, x_label_, y_label_;
  bool log_y_ = false, equal_aspect_ = false;
  std::optional<std::array<double, 4>> limits_;
  std::vector<Series> series_;
  std::optional<Picture> picture_;
};

/// A width x height pixel PNG of columns x rows panels, filled row by row.
class Figure {
 public:
  Figure(int width, int height, int columns = 1, int rows = 1);
  /// Panel `index` (from 0).
  Panel& panel(int index);
  /// Draws the figure into a temporary file beside `path`, then renames it: a crash never
  /// leaves half a picture.
  void save_png(const std::string& path) const;

 private:
  int width_, height_, columns_, rows_;
  std::vector<Panel> panels_;
};

}  // namespace deepdyn::cli
