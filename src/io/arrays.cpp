#include "deepdyn/io/arrays.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "deepdyn/io/files.h"

namespace deepdyn::io {

namespace {

std::string read_bytes(const std::string& path) {
  TORCH_CHECK(std::filesystem::exists(path), "array file '", path, "' does not exist");
  TORCH_CHECK(!std::filesystem::is_directory(path), "array file '", path, "' is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "array file '", path, "' cannot be read: ", std::strerror(errno));
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// The element types of .npy descr strings (NumPy's "array interface" type codes, such as '<f8').
struct NpyType {
  char code;
  int size;
  torch::ScalarType type;
};
constexpr NpyType kNpyTypes[] = {
    {'f', 2, torch::kHalf},  {'f', 4, torch::kFloat32}, {'f', 8, torch::kFloat64},
    {'i', 1, torch::kInt8},  {'i', 2, torch::kInt16},   {'i', 4, torch::kInt32},
    {'i', 8, torch::kInt64}, {'u', 1, torch::kUInt8},   {'b', 1, torch::kBool},
};

// The value of `key` in the header's Python dict literal, up to the next top-level ',' or '}'.
std::string header_value(const std::string& header, const std::string& key, const std::string& where) {
  const auto at = header.find("'" + key + "'");
  TORCH_CHECK(at != std::string::npos, where, ": the header has no '", key, "' (is this a .npy file?)");
  auto begin = header.find(':', at);
  TORCH_CHECK(begin != std::string::npos, where, ": the header's '", key, "' has no value");
  ++begin;
  int depth = 0;
  auto end = begin;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  auto value = header.substr(begin, end - begin);
  value.erase(0, value.find_first_not_of(" "));
  value.erase(value.find_last_not_of(" ") + 1);
  return value;
}

torch::Tensor parse_npy(const std::string& bytes, const std::string& path) {
  const std::string where = "array file '" + path + "'";
  TORCH_CHECK(bytes.size() >= 10 && bytes.compare(0, 6, "\x93NUMPY") == 0, where,
              " is not a .npy file (it does not start with NumPy's magic string); write it with numpy.save");
  const int major = uint8_t(bytes[6]);
  TORCH_CHECK(major >= 1 && major <= 3, where, ": .npy format version ", major, " is not one of 1, 2, 3");
  const size_t length_bytes = major == 1 ? 2 : 4;
  size_t header_length = 0;
  for (size_t i = 0; i < length_bytes; ++i) header_length |= size_t(uint8_t(bytes[8 + i])) << (8 * i);
  const size_t data_start = 8 + length_bytes + header_length;
  TORCH_CHECK(data_start <= bytes.size(), where, " is cut short inside its header");
  const auto header = bytes.substr(8 + length_bytes, header_length);

  const auto descr = header_value(header, "descr", where);
  TORCH_CHECK(descr.size() >= 4 && (descr[0] == '\'' || descr[0] == '"') && descr.back() == descr[0], where,
              ": element type ", descr, " is a structured type; save a plain numeric array");
  const char order = descr[1], code = descr[2];
  const int size = std::atoi(descr.substr(3, descr.size() - 4).c_str());
  TORCH_CHECK(order != '>', where, ": element type ", descr,
              " is big-endian; save it little-endian, e.g. numpy.save(path, a.astype(a.dtype.newbyteorder('<')))");
  const auto known = std::find_if(std::begin(kNpyTypes), std::end(kNpyTypes),
                                  [&](const NpyType& t) { return t.code == code && t.size == size; });
  TORCH_CHECK(known != std::end(kNpyTypes), where, ": element type ", descr,
              " is not supported; save floats (f2, f4, f8), signed integers (i1-i8), uint8 or bool");

  const bool fortran = header_value(header, "fortran_order", where) == "True";
  auto shape_text = header_value(header, "shape", where);
  TORCH_CHECK(shape_text.size() >= 2 && shape_text.front() == '(' && shape_text.back() == ')', where,
              ": the header's shape ", shape_text, " is not a tuple");
  std::vector<int64_t> shape;
  std::stringstream dims(shape_text.substr(1, shape_text.size() - 2));
  for (std::string dim; std::getline(dims, dim, ',');) {
    dim.erase(std::remove(dim.begin(), dim.end(), ' '), dim.end());
    if (dim.empty()) continue;
    TORCH_CHECK(std::all_of(dim.begin(), dim.end(), ::isdigit), where, ": the header's shape ", shape_text,
                " is not a tuple of sizes");
    shape.push_back(std::stoll(dim));
  }
  int64_t count = 1;
  for (auto n : shape) count *= n;
  const size_t expected = size_t(count) * size_t(size);
  TORCH_CHECK(bytes.size() - data_start == expected, where, ": its shape ", shape_text, " of ", descr, " needs ",
              expected, " bytes of data, the file has ", bytes.size() - data_start,
              bytes.size() - data_start < expected ? " (cut short?)" : "");

  auto storage_shape = shape;
  if (fortran) std::reverse(storage_shape.begin(), storage_shape.end());
  auto array = torch::empty(storage_shape, known->type);
  std::memcpy(array.data_ptr(), bytes.data() + data_start, expected);
  if (!fortran) return array;
  std::vector<int64_t> reversed(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) reversed[i] = int64_t(shape.size() - 1 - i);
  return array.permute(reversed).contiguous();
}

torch::Tensor parse_pt(const std::string& bytes, const std::string& path) {
  const std::string where = "array file '" + path + "'";
  if (bytes.compare(0, 2, "PK") == 0) check_zip_checksums(bytes, path);
  torch::IValue value;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, where, " is not a tensor saved by torch.save (", e.what_without_backtrace(), ")");
  }
  TORCH_CHECK(value.isTensor(), where, " holds a ", value.tagKind(),
              ", not a tensor; save one tensor with torch.save(tensor, path)");
  return value.toTensor();
}

}  // namespace

bool has_extension(const std::string& path, const std::string& extension) {
  if (path.size() < extension.size()) return false;
  return std::equal(extension.rbegin(), extension.rend(), path.rbegin(),
                    [](char a, char b) { return std::tolower(a) == std::tolower(b); });
}

torch::Tensor read_array(const std::string& path) {
  TORCH_CHECK(has_extension(path, ".npy") || has_extension(path, ".pt"), "array file '", path,
              "' has neither of the extensions .npy (numpy.save) and .pt (torch.save)");
  const auto bytes = read_bytes(path);
  return has_extension(path, ".npy") ? parse_npy(bytes, path) : parse_pt(bytes, path);
}

void write_npy(const std::string& path, const torch::Tensor& array) {
  const auto values = array.detach().cpu().contiguous();
  const auto known = std::find_if(std::begin(kNpyTypes), std::end(kNpyTypes),
                                  [&](const NpyType& t) { return t.type == values.scalar_type(); });
  TORCH_CHECK(known != std::end(kNpyTypes), "write_npy: element type ", values.scalar_type(), " has no .npy code");
  std::string shape;
  for (int64_t i = 0; i < values.dim(); ++i) shape += (i ? ", " : "") + std::to_string(values.size(i));
  if (values.dim() == 1) shape += ",";  // Python's one-element tuple
  std::string header = std::string("{'descr': '") + (known->size == 1 ? '|' : '<') + known->code +
                       std::to_string(known->size) + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  header.append(63 - (10 + header.size()) % 64, ' ');  // data aligned to 64 bytes, as numpy does
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += char(header.size() & 0xff);
  bytes += char(header.size() >> 8);
  bytes += header;
  const auto* data = static_cast<const char*>(values.data_ptr());
  bytes.append(data, data + values.numel() * values.element_size());
  write_file_atomically(path, std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

}  // namespace deepdyn::io
