#include <deepdyn/io/image.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace dd = deepdyn;

namespace {

uint32_t big_endian(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) | uint32_t(b[at + 3]);
}

TEST(Image, EncodesAValidPngOfItsSize) {
  dd::io::Image image(37, 21);
  const auto png = image.png();
  ASSERT_GT(png.size(), 33u);
  const std::vector<uint8_t> signature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  EXPECT_TRUE(std::equal(signature.begin(), signature.end(), png.begin()));
  EXPECT_EQ(std::string(png.begin() + 12, png.begin() + 16), "IHDR");
  EXPECT_EQ(big_endian(png, 16), 37u);
  EXPECT_EQ(big_endian(png, 20), 21u);
}

TEST(Image, PixelsAndTextTakeTheirColour) {
  dd::io::Image image(50, 30);
  image.set(49, 29, {255, 0, 0});
  image.set(50, 29, {255, 0, 0});  // outside: ignored
  EXPECT_EQ(image.at(49, 29).r, 255);
  EXPECT_EQ(image.at(49, 29).g, 0);
  EXPECT_EQ(image.at(0, 0).g, 255);
  dd::io::Image text(60, 20);
  text.text(2, 2, "NFE", {0, 0, 0});
  int dark = 0;
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 60; ++x) dark += text.at(x, y).r == 0;
  EXPECT_GT(dark, 10);
}

TEST(Image, GrayFrameScalesEachEntryToABlock) {
  dd::io::Image image(10, 10, {255, 0, 0});
  dd::io::gray_frame(image, 1, 2, torch::tensor({{0.0, 1.0}, {0.5, 2.0}}), 3);
  EXPECT_EQ(image.at(1, 2).g, 0);
  EXPECT_EQ(image.at(3, 4).g, 0);    // still the first entry's block
  EXPECT_EQ(image.at(4, 2).g, 255);  // second column starts at x = 1 + 3
  EXPECT_EQ(image.at(1, 5).g, 128);
  EXPECT_EQ(image.at(6, 7).r, 255);  // clamped to white
  EXPECT_EQ(image.at(7, 7).g, 0) << "pixels outside the frame keep the background";
  EXPECT_THROW(dd::io::gray_frame(image, 0, 0, torch::zeros({2, 2}), 0), c10::Error);
}

TEST(Image, SavesAtomically) {
  const auto dir = std::filesystem::temp_directory_path() / "deepdyn_image_test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "plot.png").string();
  dd::io::Image image(64, 48);
  image.set(3, 4, {0, 0, 255});
  image.save_png(path);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(std::filesystem::file_size(path), image.png().size());
  std::filesystem::remove_all(dir);
}

TEST(Image, UnwritableDirectoryIsAClearError) {
  dd::io::Image image(4, 4);
  try {
    image.save_png("/nonexistent-dir/x.png");
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("directory exists"), std::string::npos);
  }
}

}  // namespace
