// .npy and .pt arrays: files laid out by hand from NumPy's format description (not by our own
// writer), round trips, and the one-line refusal of each kind of bad file.
#include <deepdyn/io/arrays.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support/error_message.h"

namespace dd = deepdyn;
using dd::testing::error_message;

namespace {

std::string path_of(const std::string& name) { return ::testing::TempDir() + "deepdyn_arrays_" + name; }

std::string write_bytes(const std::string& name, const std::string& bytes) {
  const auto path = path_of(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// A .npy file as NumPy's format page describes it: magic, version, little-endian header length,
// the header dict padded with spaces to a multiple of 64 bytes and ended by '\n', then the data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes = std::string("\x93NUMPY", 6) + char(major) + '\0';
  const size_t length_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < length_bytes; ++i) bytes += char((header.size() >> (8 * i)) & 0xff);
  return bytes + header + data;
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof v);
  return out;
}

TEST(Arrays, NpyFilesLaidOutByHandAreRead) {
  auto path = write_bytes("c.npy", npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                                             raw<double>({1, 2, 3, 4, 5, 6})));
  EXPECT_TRUE(torch::equal(dd::io::read_array(path), torch::arange(1, 7, torch::kFloat64).view({2, 3})));

  // Fortran order stores columns first: the same matrix.
  path = write_bytes("f.npy", npy_bytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }",
                                        raw<double>({1, 4, 2, 5, 3, 6})));
  EXPECT_TRUE(torch::equal(dd::io::read_array(path), torch::arange(1, 7, torch::kFloat64).view({2, 3})));

  path = write_bytes(
      "i.npy", npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", raw<int32_t>({-1, 0, 7}), 2));
  const auto ints = dd::io::read_array(path);
  EXPECT_EQ(ints.scalar_type(), torch::kInt32);
  EXPECT_TRUE(torch::equal(ints, torch::tensor({-1, 0, 7}, torch::kInt32)));

  path = write_bytes("u.npy", npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 2), }",
                                        std::string("\x00\x10\xff\x01", 4)));
  EXPECT_TRUE(torch::equal(dd::io::read_array(path), torch::tensor({0, 16, 255, 1}, torch::kUInt8).view({2, 1, 2})));
}

TEST(Arrays, WrittenArraysReadBackExactly) {
  for (const auto& array : {torch::randn({4, 3}, torch::kFloat32), torch::randn({5}, torch::kFloat64),
                            torch::arange(12, torch::kLong).view({2, 3, 2}), torch::scalar_tensor(2.5)}) {
    dd::io::write_npy(path_of("round.npy"), array);
    const auto back = dd::io::read_array(path_of("round.npy"));
    EXPECT_EQ(back.sizes(), array.sizes());
    EXPECT_TRUE(torch::equal(back, array));
  }
  const auto pickled = torch::pickle_save(torch::randn({3, 2}, torch::kFloat64));
  const auto pt = write_bytes("tensor.pt", std::string(pickled.begin(), pickled.end()));
  EXPECT_TRUE(torch::equal(dd::io::read_array(pt), torch::pickle_load(pickled).toTensor()));
  EXPECT_TRUE(dd::io::has_extension("A.NPY", ".npy"));
  EXPECT_FALSE(dd::io::has_extension("npy", ".npy"));
}

TEST(Arrays, EachKindOfBadFileIsOneLineNamingTheFileAndWhatWasExpected) {
  const std::string good_dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
  const auto list = torch::pickle_save(c10::List<int64_t>({1, 2}));
  const std::pair<std::string, std::pair<std::string, std::string>> cases[] = {
      {"magic.npy", {"PK not numpy", "is not a .npy file"}},
      {"big.npy",
       {npy_bytes("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", raw<double>({1})), "is big-endian"}},
      {"struct.npy",
       {npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", raw<float>({1})),
        "structured type"}},
      {"complex.npy",
       {npy_bytes("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", raw<double>({1, 2})),
        "is not supported"}},
      {"short.npy",
       {npy_bytes(good_dict, raw<double>({1, 2, 3})), "needs 32 bytes of data, the file has 24 (cut short?)"}},
      {"list.pt", {std::string(list.begin(), list.end()), "not a tensor"}},
      {"junk.pt", {"not a pickle", "is not a tensor saved by torch.save"}},
  };
  for (const auto& [name, content] : cases) {
    const auto path = write_bytes(name, content.first);
    const auto message = error_message([&] { dd::io::read_array(path); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find(content.second), std::string::npos) << content.second << " in: " << message;
  }
  EXPECT_NE(error_message([] { dd::io::read_array(path_of("absent.npy")); }).find("does not exist"), std::string::npos);
  EXPECT_NE(error_message([] { dd::io::read_array(path_of("table.csv")); }).find("neither of the extensions"),
            std::string::npos);
}

}  // namespace
