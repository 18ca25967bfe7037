#include "deepdyn/data/trajectories.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace deepdyn::data {

namespace {

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();  // a trailing empty field
  return fields;
}

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
  return out;
}

/// Rows of one trajectory while the file is read.
struct Rows {
  std::vector<double> t, y;
  int64_t last_line = 0;
};

}  // namespace

std::vector<Trajectory> read_trajectories_csv(const std::string& path) {
  TORCH_CHECK(!std::filesystem::is_directory(path), "trajectories file '", path, "' is a directory, not a CSV file");
  std::ifstream in(path);
  TORCH_CHECK(in, "trajectories file '", path, "' cannot be read: ", std::strerror(errno));
  const std::string where = "trajectories file '" + path + "'";

  std::string line;
  TORCH_CHECK(std::getline(in, line), where, " is empty: expected a header trajectory,t,y1,...,yd and rows");
  auto header = split_fields(line);
  for (auto& name : header) name = trimmed(name);
  TORCH_CHECK(header.size() >= 3 && header[0] == "trajectory" && header[1] == "t", where,
              ", line 1: expected the header trajectory,t,y1,...,yd (at least one state column), got '",
              trimmed(line), "'");
  const size_t d = header.size() - 2;

  std::vector<std::string> order;  // ids in order of first appearance
  std::map<std::string, Rows> rows;
  for (int64_t number = 2; std::getline(in, line); ++number) {
    if (trimmed(line).empty()) continue;
    const auto fields = split_fields(line);
    TORCH_CHECK(fields.size() == header.size(), where, ", line ", number, ": ", fields.size(),
                " fields where the header has ", header.size(), " (", joined(header), ")");
    const auto id = trimmed(fields[0]);
    TORCH_CHECK(!id.empty(), where, ", line ", number, ": the trajectory column is empty");
    std::vector<double> values(fields.size() - 1);
    for (size_t c = 1; c < fields.size(); ++c) {
      const auto text = trimmed(fields[c]);
      char* end = nullptr;
      const double value = std::strtod(text.c_str(), &end);
      TORCH_CHECK(!text.empty() && end == text.c_str() + text.size(), where, ", line ", number, ", column ",
                  header[c], ": '", text, "' is not a number");
      TORCH_CHECK(std::isfinite(value), where, ", line ", number, ", column ", header[c], ": ", text,
                  " is not a finite number");
      values[c - 1] = value;
    }
    auto [entry, is_new] = rows.try_emplace(id);
    if (is_new) order.push_back(id);
    auto& r = entry->second;
    TORCH_CHECK(r.t.empty() || values[0] > r.t.back(), where, ", line ", number, ": trajectory '", id,
                "' does not move forward in time (t = ", values[0], " after t = ", r.t.back(), " on line ",
                r.last_line, "): its rows must come in strictly increasing t");
    r.t.push_back(values[0]);
    r.y.insert(r.y.end(), values.begin() + 1, values.end());
    r.last_line = number;
  }
  TORCH_CHECK(!order.empty(), where, " has a header but no rows");

  std::vector<Trajectory> trajectories;
  for (const auto& id : order) {
    auto& r = rows.at(id);
    const auto n = static_cast<int64_t>(r.t.size());
    TORCH_CHECK(n >= 2, where, ": trajectory '", id, "' has one row (line ", r.last_line,
                "): a trajectory needs at least two observations");
    trajectories.push_back({id, torch::tensor(r.t, torch::kFloat64),
                            torch::tensor(r.y, torch::kFloat64).view({n, static_cast<int64_t>(d)})});
  }
  return trajectories;
}

}  // namespace deepdyn::data
