#include "deepdyn/data/points.h"

#include <cmath>
#include <cstdlib>

#include "data/detail/csv.h"
#include "deepdyn/io/arrays.h"

namespace deepdyn::data {

namespace {

Points points_of_csv(const std::string& path) {
  detail::CsvFile file(path, "points file", "x1,...,xd");
  bool numeric = true;
  for (const auto& name : file.header()) {
    TORCH_CHECK(!name.empty(), file.where(), ", line 1: a column of the header has no name: '", file.header_line(),
                "'");
    char* end = nullptr;
    std::strtod(name.c_str(), &end);
    numeric = numeric && end == name.c_str() + name.size();
  }
  TORCH_CHECK(!numeric, file.where(), ", line 1: '", file.header_line(),
              "' is numbers, not a header: the first line names the columns (e.g. x1,x2,x3)");
  std::vector<double> values;
  std::vector<std::string> fields;
  while (file.next(fields))
    for (size_t c = 0; c < fields.size(); ++c) values.push_back(file.number(fields, c));
  const auto d = static_cast<int64_t>(file.header().size());
  const auto n = static_cast<int64_t>(values.size()) / d;
  TORCH_CHECK(n >= 2, file.where(), " has ", n, " points: expected two or more rows after the header");
  return {torch::tensor(values, torch::kFloat64).view({n, d}), file.header()};
}

Points points_of_array(const std::string& path) {
  const std::string where = "points file '" + path + "'";
  const auto array = io::read_array(path);
  TORCH_CHECK(array.dim() == 2 && array.size(1) >= 1, where, ": expected a 2-D array [n, d] of points, got shape ",
              array.sizes());
  TORCH_CHECK(array.size(0) >= 2, where, " has ", array.size(0), " points: expected two or more");
  const auto x = array.to(torch::kFloat64).contiguous();
  const auto finite = torch::isfinite(x);
  if (!finite.all().item<bool>()) {
    const auto at = torch::nonzero(~finite)[0];
    TORCH_CHECK(false, where, ", row ", at[0].item<int64_t>(), ", column ", at[1].item<int64_t>(), ": ",
                x[at[0]][at[1]].item<double>(), " is not a finite number");
  }
  std::vector<std::string> names;
  for (int64_t j = 1; j <= x.size(1); ++j) names.push_back("x" + std::to_string(j));
  return {x, names};
}

}  // namespace

Points read_points(const std::string& path) {
  if (io::has_extension(path, ".csv")) return points_of_csv(path);
  TORCH_CHECK(io::has_extension(path, ".npy") || io::has_extension(path, ".pt"), "points file '", path,
              "' has none of the extensions .csv, .npy and .pt");
  return points_of_array(path);
}

}  // namespace deepdyn::data
