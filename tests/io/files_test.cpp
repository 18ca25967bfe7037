// Atomic writes that leave nothing behind when they fail, and zip checksums checked before loading.
#include <deepdyn/io/files.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
namespace io = deepdyn::io;

namespace {

std::string saved_bytes(const torch::Tensor& tensor) {
  std::ostringstream out;
  torch::save(tensor, out);
  return out.str();
}

}  // namespace

// A write past the file-size limit fails as on a full disk (EFBIG instead of ENOSPC): the error
// says so, the old file stays, and no temporary file is left.
TEST(Files, AFailedAtomicWriteKeepsTheOldFileAndLeavesNoTemporary) {
  const auto dir = ::testing::TempDir() + "deepdyn_files_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto path = dir + "/out.bin";
  io::write_file_atomically(path, std::vector<uint8_t>(10, 7));
  rlimit old_limit{};
  getrlimit(RLIMIT_FSIZE, &old_limit);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 1 << 16;
  setrlimit(RLIMIT_FSIZE, &small);
  std::string error;
  try {
    io::write_file_atomically(path, std::vector<uint8_t>(1 << 20, 1));
  } catch (const c10::Error& e) {
    error = e.msg();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(error.find("writing '" + path + "' failed (disk full?); the previous file, if any, is unchanged"),
            std::string::npos)
      << error;
  EXPECT_EQ(fs::file_size(path), 10u);
  for (const auto& entry : fs::directory_iterator(dir)) EXPECT_EQ(entry.path(), path);
}

TEST(Files, ZipChecksumsCatchEveryChangedByteOfATensor) {
  const auto bytes = saved_bytes(torch::arange(64, torch::kFloat32));
  EXPECT_NO_THROW(io::check_zip_checksums(bytes, "t.pt"));
  // LibTorch itself loads a changed tensor byte without complaint: that is what the check is for.
  const auto value_at = bytes.find(std::string("\x00\x00\x80\x3f", 4));  // 1.0f, the second element
  ASSERT_NE(value_at, std::string::npos);
  auto changed = bytes;
  changed[value_at + 3] ^= 0x01;
  torch::Tensor loaded;
  std::istringstream in(changed);
  torch::load(loaded, in);
  EXPECT_NE(loaded[1].item<float>(), 1.0f);
  try {
    io::check_zip_checksums(changed, "t.pt");
    ADD_FAILURE() << "a changed byte passed";
  } catch (const c10::Error& e) {
    EXPECT_NE(e.msg().find("'t.pt' is damaged: its entry '"), std::string::npos) << e.msg();
    EXPECT_NE(e.msg().find("fails its CRC-32 check"), std::string::npos) << e.msg();
  }
  // Cut short, or not a zip at all.
  EXPECT_THROW(io::check_zip_checksums(bytes.substr(0, bytes.size() / 2), "t.pt"), c10::Error);
  EXPECT_THROW(io::check_zip_checksums("garbage", "t.pt"), c10::Error);
}
