#include "data/detail/csv.h"

#include <c10/util/Exception.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace deepdyn::data::detail {

namespace {

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  std::string field;
  while (std::getline(in, field, ',')) fields.push_back(trimmed(field));
  if (!line.empty() && line.back() == ',') fields.emplace_back();  // a trailing empty field
  return fields;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ",") + name;
  return out;
}

}  // namespace

CsvFile::CsvFile(const std::string& path, const std::string& what, const std::string& expected)
    : where_(what + " '" + path + "'") {
  TORCH_CHECK(!std::filesystem::is_directory(path), where_, " is a directory, not a CSV file");
  in_.open(path);
  TORCH_CHECK(in_, where_, " cannot be read: ", std::strerror(errno));
  TORCH_CHECK(std::getline(in_, header_line_), where_, " is empty: expected a header ", expected, " and rows");
  header_line_ = trimmed(header_line_);
  header_ = split_fields(header_line_);
}

bool CsvFile::next(std::vector<std::string>& fields) {
  std::string text;
  while (std::getline(in_, text)) {
    ++line_;
    if (trimmed(text).empty()) continue;
    fields = split_fields(text);
    TORCH_CHECK(fields.size() == header_.size(), where_, ", line ", line_, ": ", fields.size(),
                " fields where the header has ", header_.size(), " (", joined(header_), ")");
    return true;
  }
  return false;
}

double CsvFile::number(const std::vector<std::string>& fields, size_t column) const {
  const auto& text = fields[column];
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  TORCH_CHECK(!text.empty() && end == text.c_str() + text.size(), where_, ", line ", line_, ", column ",
              header_[column], ": '", text, "' is not a number");
  TORCH_CHECK(std::isfinite(value), where_, ", line ", line_, ", column ", header_[column], ": ", text,
              " is not a finite number");
  return value;
}

}  // namespace deepdyn::data::detail
