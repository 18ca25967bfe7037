#include "deepdyn/data/trajectories.h"

#include <cmath>
#include <map>

#include "data/detail/csv.h"
#include "deepdyn/io/arrays.h"

namespace deepdyn::data {

namespace {

// Observations grouped into trajectories as a file is read: each trajectory's rows must move
// forward in time, and each needs two rows or more.
class Grouping {
 public:
  Grouping(std::string where, int64_t dim) : where_(std::move(where)), dim_(dim) {}

  /// One observation: `values` = (t, y1, ..., yd); `place` says where it is ("line 4", "row 3").
  void add(const std::string& id, const double* values, const std::string& place) {
    auto [entry, is_new] = rows_.try_emplace(id);
    if (is_new) order_.push_back(id);
    auto& r = entry->second;
    TORCH_CHECK(r.t.empty() || values[0] > r.t.back(), where_, ", ", place, ": trajectory '", id,
                "' does not move forward in time (t = ", values[0], " after t = ", r.t.back(), " on ", r.last_place,
                "): its rows must come in strictly increasing t");
    r.t.push_back(values[0]);
    r.y.insert(r.y.end(), values + 1, values + 1 + dim_);
    r.last_place = place;
  }

  std::vector<Trajectory> finish() {
    TORCH_CHECK(!order_.empty(), where_, " has a header but no rows");
    std::vector<Trajectory> trajectories;
    for (const auto& id : order_) {
      auto& r = rows_.at(id);
      const auto n = static_cast<int64_t>(r.t.size());
      TORCH_CHECK(n >= 2, where_, ": trajectory '", id, "' has one row (", r.last_place,
                  "): a trajectory needs at least two observations");
      trajectories.push_back(
          {id, torch::tensor(r.t, torch::kFloat64), torch::tensor(r.y, torch::kFloat64).view({n, dim_})});
    }
    return trajectories;
  }

 private:
  struct Rows {
    std::vector<double> t, y;
    std::string last_place;
  };
  std::string where_;
  int64_t dim_;
  std::vector<std::string> order_;  // ids in order of first appearance
  std::map<std::string, Rows> rows_;
};

// A [rows, 2 + d] array: columns trajectory (a number), t, y1..yd.
std::vector<Trajectory> trajectories_of_table(const torch::Tensor& array, const std::string& path) {
  const std::string where = "trajectories file '" + path + "'";
  TORCH_CHECK(array.dim() == 2 && array.size(1) >= 3, where, ": expected a 2-D array [rows, 2 + d] whose columns are ",
              "trajectory, t, y1..yd (d >= 1), got shape ", array.sizes());
  const auto table = array.to(torch::kFloat64).contiguous();
  const int64_t columns = table.size(1);
  Grouping grouping(where, columns - 2);
  const double* rows = table.data_ptr<double>();
  for (int64_t i = 0; i < table.size(0); ++i) {
    const double* row = rows + i * columns;
    for (int64_t c = 0; c < columns; ++c)
      TORCH_CHECK(std::isfinite(row[c]), where, ", row ", i, ", column ", c,
                  c == 0   ? " (trajectory)"
                  : c == 1 ? " (t)"
                           : "",
                  ": ", row[c], " is not a finite number");
    TORCH_CHECK(row[0] == std::round(row[0]), where, ", row ", i, ", column 0 (trajectory): ", row[0],
                " is not a whole number; the first column numbers the trajectories");
    grouping.add(std::to_string(int64_t(row[0])), row + 1, "row " + std::to_string(i));
  }
  return grouping.finish();
}

}  // namespace

std::vector<Trajectory> read_trajectories_csv(const std::string& path) {
  detail::CsvFile file(path, "trajectories file", "trajectory,t,y1,...,yd");
  const auto& header = file.header();
  TORCH_CHECK(header.size() >= 3 && header[0] == "trajectory" && header[1] == "t", file.where(),
              ", line 1: expected the header trajectory,t,y1,...,yd (at least one state column), got '",
              file.header_line(), "'");
  Grouping grouping(file.where(), static_cast<int64_t>(header.size()) - 2);
  std::vector<std::string> fields;
  while (file.next(fields)) {
    TORCH_CHECK(!fields[0].empty(), file.where(), ", line ", file.line(), ": the trajectory column is empty");
    std::vector<double> values(fields.size() - 1);
    for (size_t c = 1; c < fields.size(); ++c) values[c - 1] = file.number(fields, c);
    grouping.add(fields[0], values.data(), "line " + std::to_string(file.line()));
  }
  return grouping.finish();
}

std::vector<Trajectory> read_trajectories(const std::string& path) {
  if (io::has_extension(path, ".csv")) return read_trajectories_csv(path);
  TORCH_CHECK(io::has_extension(path, ".npy") || io::has_extension(path, ".pt"), "trajectories file '", path,
              "' has none of the extensions .csv, .npy and .pt");
  return trajectories_of_table(io::read_array(path), path);
}

}  // namespace deepdyn::data
