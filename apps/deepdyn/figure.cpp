#include "figure.h"

#include <plplot.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

namespace deepdyn::cli {

namespace {

// cmap0 entries: 0 the background, 1 axes and text, 2.. the series' colours.
constexpr PLINT kBackground = 0, kInk = 1, kFirstSeries = 2, kColours = 16;

std::vector<double> values_of(const torch::Tensor& v, const char* what) {
  TORCH_CHECK(v.dim() == 1, "Panel: ", what, " must be 1-D, got shape ", v.sizes());
  const auto c = v.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// [lo, hi] widened by a margin of 5%, or by 1 around a single value.
std::array<double, 2> padded(double lo, double hi) {
  if (!(lo < hi)) return {lo - 1, hi + 1};
  const double margin = 0.05 * (hi - lo);
  return {lo - margin, hi + margin};
}

}  // namespace

Panel& Panel::title(std::string text) {
  title_ = std::move(text);
  return *this;
}
Panel& Panel::labels(std::string x, std::string y) {
  x_label_ = std::move(x);
  y_label_ = std::move(y);
  return *this;
}
Panel& Panel::log_y(bool on) {
  log_y_ = on;
  return *this;
}
Panel& Panel::equal_aspect(bool on) {
  equal_aspect_ = on;
  return *this;
}
Panel& Panel::limits(double x0, double x1, double y0, double y1) {
  TORCH_CHECK(x0 < x1 && y0 < y1, "Panel::limits: expected x0 < x1 and y0 < y1, got [", x0, ", ", x1, "] x [", y0, ", ",
              y1, "]");
  limits_ = std::array<double, 4>{x0, x1, y0, y1};
  return *this;
}

Panel& Panel::line(const torch::Tensor& xs, const torch::Tensor& ys, Rgb color, std::string label) {
  TORCH_CHECK(xs.numel() == ys.numel(), "Panel: xs and ys differ in length (", xs.numel(), " and ", ys.numel(), ")");
  series_.push_back({values_of(xs, "xs"), values_of(ys, "ys"), color, std::move(label), false});
  return *this;
}

Panel& Panel::points(const torch::Tensor& xs, const torch::Tensor& ys, Rgb color, std::string label) {
  line(xs, ys, color, std::move(label));
  series_.back().dots = true;
  return *this;
}

Panel& Panel::image(const torch::Tensor& values, std::array<double, 4> extent, std::string name) {
  TORCH_CHECK(values.dim() == 2 && values.size(0) >= 1 && values.size(1) >= 1,
              "Panel::image: values must be 2-D [rows, columns], got shape ", values.sizes());
  picture_ = Picture{values.detach().to(torch::kCPU, torch::kFloat64).contiguous(), extent, std::move(name)};
  return *this;
}

Figure::Figure(int width, int height, int columns, int rows)
    : width_(width), height_(height), columns_(columns), rows_(rows), panels_(size_t(std::max(columns * rows, 0))) {
  TORCH_CHECK(width >= 16 && height >= 16, "Figure: width and height must be >= 16 pixels, got ", width, " x ", height);
  TORCH_CHECK(columns >= 1 && rows >= 1, "Figure: columns and rows must be >= 1, got ", columns, " and ", rows);
}

Panel& Figure::panel(int index) {
  TORCH_CHECK(index >= 0 && index < int(panels_.size()), "Figure: panel ", index, " of ", panels_.size());
  return panels_[index];
}

namespace {

// The finite points of a series, y as log10(y) on a log axis (where y > 0).
std::pair<std::vector<double>, std::vector<double>> drawable(const std::vector<double>& xs,
                                                             const std::vector<double>& ys, bool log_y) {
  std::pair<std::vector<double>, std::vector<double>> out;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double y = log_y ? (ys[i] > 0 ? std::log10(ys[i]) : NAN) : ys[i];
    if (!std::isfinite(xs[i]) || !std::isfinite(y)) continue;
    out.first.push_back(xs[i]);
    out.second.push_back(y);
  }
  return out;
}

void draw_image(const torch::Tensor& values, const std::array<double, 4>& extent, const std::string& name) {
  // A dark-to-bright map (black, purple, orange, pale yellow) that prints and reads in gray.
  const PLFLT at[] = {0.0, 0.35, 0.7, 1.0}, r[] = {0.0, 0.45, 0.95, 0.99}, g[] = {0.0, 0.1, 0.5, 0.95},
              b[] = {0.1, 0.5, 0.2, 0.6};
  plscmap1l(1, 4, at, r, g, b, nullptr);
  const auto v = values.nan_to_num(0.0);
  const double lo = v.min().item<double>(), hi = std::max(v.max().item<double>(), lo + 1e-300);
  const int64_t rows = v.size(0), columns = v.size(1);
  // PLplot indexes images [x][y]: columns first.
  const auto by_column = v.t().contiguous();
  std::vector<const PLFLT*> pointers(columns);
  for (int64_t i = 0; i < columns; ++i) pointers[i] = by_column.data_ptr<double>() + i * rows;
  plimage(pointers.data(), PLINT(columns), PLINT(rows), extent[0], extent[1], extent[2], extent[3], lo, hi, extent[0],
          extent[1], extent[2], extent[3]);
  PLFLT width = 0, height = 0;
  const PLINT label_options[] = {PL_COLORBAR_LABEL_TOP};
  const char* labels[] = {name.c_str()};
  const char* axis_options[] = {"bcvtm"};
  const PLFLT ticks[] = {0.0};
  const PLINT sub_ticks[] = {0}, counts[] = {2};
  const PLFLT range[] = {lo, hi};
  const PLFLT* ranges[] = {range};
  plcol0(kInk);
  plcolorbar(&width, &height, PL_COLORBAR_GRADIENT, PL_POSITION_RIGHT | PL_POSITION_OUTSIDE | PL_POSITION_VIEWPORT,
             0.04, 0.0, 0.06, 0.9, kBackground, kInk, 1, 0, 0, 0, 0, 1, label_options, labels, 1, axis_options, ticks,
             sub_ticks, counts, ranges);
}

void draw_legend(const std::vector<std::pair<std::string, std::pair<PLINT, bool>>>& entries) {
  const auto n = PLINT(entries.size());
  std::vector<PLINT> options, ink(n, kInk), colours, styles(n, 1), symbol_numbers(n, 1);
  std::vector<PLFLT> widths(n, 2.0), scales(n, 1.0);
  std::vector<const char*> texts, symbols(n, "•");
  for (const auto& [label, style] : entries) {
    texts.push_back(label.c_str());
    colours.push_back(style.first);
    options.push_back(style.second ? PL_LEGEND_SYMBOL : PL_LEGEND_LINE);
  }
  PLFLT width = 0, height = 0;
  pllegend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.02, 0.02, 0.08, kBackground, kInk, 1, 0, 0, n,
           options.data(), 1.0, 0.8, 2.0, 0.0, ink.data(), texts.data(), nullptr, nullptr, nullptr, nullptr,
           colours.data(), styles.data(), widths.data(), colours.data(), scales.data(), symbol_numbers.data(),
           symbols.data());
}

}  // namespace

void Figure::save_png(const std::string& path) const {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  TORCH_CHECK(std::ofstream(temporary).good(), "cannot write '", temporary,
              "': check that the directory exists and is writable");
  PLINT stream = 0;
  plmkstrm(&stream);  // a stream of its own: no state shared with other figures
  plsdev("pngcairo");
  plsfnam(temporary.c_str());
  plspage(0, 0, width_, height_, 0, 0);
  plscmap0n(kColours);
  plscol0(kBackground, 255, 255, 255);
  plscol0(kInk, 0, 0, 0);
  plssub(columns_, rows_);
  plinit();
  plschr(0, 0.8);
  for (const auto& panel : panels_) {
    pladv(0);
    // The viewport in subpage coordinates, leaving room for the labels; a colour bar takes a
    // fifth of its width.
    const PLFLT x0 = 0.18, x1 = panel.picture_ ? 0.78 : 0.96, y0 = 0.14, y1 = 0.88;
    std::array<double, 4> range{};
    if (panel.limits_) {
      range = *panel.limits_;
      if (panel.log_y_)
        range[2] = std::log10(std::max(range[2], 1e-300)), range[3] = std::log10(std::max(range[3], 1e-300));
    } else {
      double lo_x = INFINITY, hi_x = -INFINITY, lo_y = INFINITY, hi_y = -INFINITY;
      for (const auto& s : panel.series_) {
        const auto [xs, ys] = drawable(s.xs, s.ys, panel.log_y_);
        for (size_t i = 0; i < xs.size(); ++i) {
          lo_x = std::min(lo_x, xs[i]), hi_x = std::max(hi_x, xs[i]);
          lo_y = std::min(lo_y, ys[i]), hi_y = std::max(hi_y, ys[i]);
        }
      }
      if (panel.picture_) {
        const auto& e = panel.picture_->extent;
        lo_x = std::min(lo_x, e[0]), hi_x = std::max(hi_x, e[1]), lo_y = std::min(lo_y, e[2]),
        hi_y = std::max(hi_y, e[3]);
      }
      if (!(lo_x <= hi_x)) lo_x = 0, hi_x = 1, lo_y = 0, hi_y = 1;  // nothing drawable
      const auto x = panel.picture_ ? std::array<double, 2>{lo_x, hi_x} : padded(lo_x, hi_x);
      const auto y = panel.picture_ ? std::array<double, 2>{lo_y, hi_y} : padded(lo_y, hi_y);
      range = {x[0], x[1], y[0], y[1]};
    }
    if (panel.equal_aspect_)
      plvpas(x0, x1, y0, y1, (range[3] - range[2]) / (range[1] - range[0]));
    else
      plvpor(x0, x1, y0, y1);
    plwind(range[0], range[1], range[2], range[3]);
    if (panel.picture_) draw_image(panel.picture_->values, panel.picture_->extent, panel.picture_->name);
    std::vector<std::pair<std::string, std::pair<PLINT, bool>>> legend;
    PLINT colour = kFirstSeries;
    for (const auto& s : panel.series_) {
      plscol0(colour, s.color.r, s.color.g, s.color.b);
      plcol0(colour);
      const auto [xs, ys] = drawable(s.xs, s.ys, panel.log_y_);
      if (s.dots) {
        plschr(0, 0.4);
        plstring(PLINT(xs.size()), xs.data(), ys.data(), "•");
        plschr(0, 0.8);
      } else {
        plwidth(2.0);
        plline(PLINT(xs.size()), xs.data(), ys.data());
        plwidth(1.0);
      }
      if (!s.label.empty()) legend.push_back({s.label, {colour, s.dots}});
      colour = colour + 1 < kColours ? colour + 1 : kFirstSeries;
    }
    plcol0(kInk);
    plbox("bcnst", 0, 0, panel.log_y_ ? "bcnstvl" : "bcnstv", 0, 0);
    pllab(panel.x_label_.c_str(), panel.y_label_.c_str(), panel.title_.c_str());
    if (!legend.empty()) draw_legend(legend);
  }
  plend1();
  const bool renamed = std::rename(temporary.c_str(), path.c_str()) == 0;
  if (!renamed) std::remove(temporary.c_str());
  TORCH_CHECK(renamed, "cannot rename '", temporary, "' to '", path, "'");
}

}  // namespace deepdyn::cli
