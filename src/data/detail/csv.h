#pragma once
// Comma-separated text with a header line, read row by row, every error naming the file, the
// line and the column: what the data readers of measured files share.
#include <fstream>
#include <string>
#include <vector>

namespace deepdyn::data::detail {

class CsvFile {
 public:
  /// Opens `path` and reads its header. `what` names the kind of file in errors ("trajectories
  /// file"), `expected` the header it should have ("trajectory,t,y1,...,yd"). A missing,
  /// unreadable or empty file and a directory are refused.
  CsvFile(const std::string& path, const std::string& what, const std::string& expected);

  /// "<what> '<path>'", the start of every error about the file.
  const std::string& where() const { return where_; }
  /// The header's fields, trimmed, and the header line as written.
  const std::vector<std::string>& header() const { return header_; }
  const std::string& header_line() const { return header_line_; }

  /// The next row that is not blank: its fields, trimmed, as many as the header's (or an error).
  /// False at the end of the file.
  bool next(std::vector<std::string>& fields);
  /// The line number of the row `next` returned last.
  int64_t line() const { return line_; }
  /// Field `column` of that row as a finite number, or an error naming the line and column.
  double number(const std::vector<std::string>& fields, size_t column) const;

 private:
  std::ifstream in_;
  std::string where_, header_line_;
  std::vector<std::string> header_;
  int64_t line_ = 1;
};

}  // namespace deepdyn::data::detail
