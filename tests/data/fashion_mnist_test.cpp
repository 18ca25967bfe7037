// The IDX reader on files written here (gzip and plain, good and broken) and on Debian's
// Fashion-MNIST, which scripts/setup.sh installs.
#include <deepdyn/deepdyn.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/error_message.h"
#include "support/tensor_files.h"

namespace dd = deepdyn;
using dd::testing::error_message;
using dd::testing::idx_bytes;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("deepdyn_idx_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST(Idx, ReadsGzipAndPlainFiles) {
  TempDir dir;
  std::vector<uint8_t> data = {0, 1, 2, 3, 250, 251, 252, 253, 9, 8, 7, 6};
  const auto bytes = idx_bytes({3, 2, 2}, data);
  dd::testing::write_gzip((dir.path / "a.gz").string(), bytes);
  std::ofstream(dir.path / "a.idx", std::ios::binary) << bytes;
  for (const char* name : {"a.gz", "a.idx"}) {
    auto t = dd::data::read_idx((dir.path / name).string());
    EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 2})) << name;
    EXPECT_TRUE(
        torch::equal(t.flatten(), torch::tensor(std::vector<int64_t>(data.begin(), data.end())).to(torch::kUInt8)));
  }
}

TEST(Idx, RefusesBrokenFilesWithTheReason) {
  TempDir dir;
  auto path = (dir.path / "bad.gz").string();
  dd::testing::write_gzip(path, idx_bytes({4}, {1, 2, 3}));
  EXPECT_NE(error_message([&] { dd::data::read_idx(path); }).find("truncated"), std::string::npos);
  dd::testing::write_gzip(path, idx_bytes({2}, {1, 2, 3}));
  EXPECT_NE(error_message([&] { dd::data::read_idx(path); }).find("data past"), std::string::npos);
  dd::testing::write_gzip(path, idx_bytes({2}, {0, 0, 0, 0, 0, 0, 0, 0}, 0x0d));
  EXPECT_NE(error_message([&] { dd::data::read_idx(path); }).find("only unsigned bytes"), std::string::npos);
  dd::testing::write_gzip(path, "\x01\x02\x08\x01");
  EXPECT_NE(error_message([&] { dd::data::read_idx(path); }).find("not an IDX file"), std::string::npos);
  EXPECT_NE(error_message([&] { dd::data::read_idx((dir.path / "missing.gz").string()); }).find("cannot open"),
            std::string::npos);
}

TEST(FashionMnist, MissingDirectoryNamesThePackage) {
  auto message = error_message([] { dd::data::load_fashion_mnist(dd::data::Split::Test, "/nonexistent/fashion"); });
  EXPECT_NE(message.find("dataset-fashion-mnist"), std::string::npos) << message;
}

TEST(FashionMnist, LoadsDebiansTestSplit) {
  auto test = dd::data::load_fashion_mnist(dd::data::Split::Test);
  EXPECT_EQ(test.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  EXPECT_EQ(test.images.scalar_type(), torch::kFloat32);
  EXPECT_GE(test.images.min().item<float>(), 0.0f);
  EXPECT_LE(test.images.max().item<float>(), 1.0f);
  // The test split holds exactly 1000 images of each class (Xiao et al. 2017).
  EXPECT_TRUE(torch::equal(torch::bincount(test.labels), torch::full({10}, 1000, torch::kInt64)));
  EXPECT_STREQ(dd::data::fashion_mnist_class_name(9), "Ankle boot");
}
