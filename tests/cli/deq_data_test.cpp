// deepdyn train deq on labelled images written here: MNIST's IDX files (plain and gzip) or
// .npy/.pt arrays, any image size and number of classes, and bad directories refused before a
// run directory exists.
#include <deepdyn/io/arrays.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "support/cli.h"
#include "support/tensor_files.h"

namespace fs = std::filesystem;

namespace {

using deepdyn::testing::fresh_path;
using deepdyn::testing::read_file;
using deepdyn::testing::run_cli;
using deepdyn::testing::write_idx;
using deepdyn::testing::write_pt;

const std::string kTiny =
    " --set iterations=3 --set batch=8 --set width=8 --set eval_images=1000 --set checkpoint_every=2";

std::string fresh_directory(const std::string& name) {
  const auto path = fresh_path(name);
  fs::create_directories(path);
  return path;
}

// n images in [0, 1] of the given shape whose brightness grows with their class.
std::pair<torch::Tensor, torch::Tensor> images(int64_t n, std::vector<int64_t> shape, int64_t classes, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  shape.insert(shape.begin(), n);
  auto labels = torch::randint(classes, {n}, generator, torch::kLong);
  std::vector<int64_t> per_image(shape.size(), 1);
  per_image[0] = n;
  const auto brightness = (labels.to(torch::kFloat32) / double(classes - 1)).view(per_image);
  return {torch::rand(shape, generator, torch::kFloat32) * 0.5 + 0.5 * brightness, labels};
}

TEST(DeqData, TrainsOnIdxAndArrayDirectoriesOfAnyImageSizeAndClassCount) {
  const auto idx = fresh_directory("deq_idx");
  auto [train_x, train_y] = images(40, {6, 5}, 3, 1);
  auto [test_x, test_y] = images(20, {6, 5}, 3, 2);
  write_idx(idx + "/train-images-idx3-ubyte", (train_x * 255).to(torch::kUInt8), false);
  write_idx(idx + "/train-labels-idx1-ubyte", train_y, false);
  write_idx(idx + "/t10k-images-idx3-ubyte.gz", (test_x * 255).to(torch::kUInt8), true);
  write_idx(idx + "/t10k-labels-idx1-ubyte.gz", test_y, true);

  const auto arrays = fresh_directory("deq_arrays");
  auto [a_train_x, a_train_y] = images(30, {2, 4, 4}, 4, 3);
  auto [a_test_x, a_test_y] = images(12, {2, 4, 4}, 4, 4);
  a_train_y[0] = 3;  // every class in training
  a_test_y.clamp_(0, 3);
  deepdyn::io::write_npy(arrays + "/train_images.npy", a_train_x);
  deepdyn::io::write_npy(arrays + "/train_labels.npy", a_train_y);
  write_pt(arrays + "/test_images.pt", a_test_x.to(torch::kFloat64));
  write_pt(arrays + "/test_labels.pt", a_test_y);

  const std::tuple<std::string, int64_t, int64_t> cases[] = {{idx, 20, 3}, {arrays, 12, 4}};
  for (const auto& [directory, test_images, classes] : cases) {
    const auto dir = fresh_path("deq_data_run");
    auto result = run_cli("train deq --out " + dir + " --set data=" + directory + kTiny);
    ASSERT_EQ(result.status, 0) << directory << ": " << result.err;
    const auto evaluation = nlohmann::json::parse(read_file(dir + "/summary.json"))["evaluation"];
    const double accuracy = evaluation["accuracy"].get<double>();
    EXPECT_GE(accuracy, 0.0);
    EXPECT_LE(accuracy, 1.0);
    EXPECT_EQ(evaluation["test_images"], test_images) << evaluation;
    EXPECT_EQ(evaluation["classes"], classes) << evaluation;
    result = run_cli("eval " + dir);
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/eval.json"))["accuracy"], evaluation["accuracy"]);
  }
}

TEST(DeqData, BadDirectoriesAreRefusedBeforeARunDirectoryExists) {
  auto [x, y] = images(10, {4, 4}, 2, 5);
  // A directory with the training files and, for each case, its own test files.
  auto directory = [&](const std::string& name, const torch::Tensor& test_images, const torch::Tensor& test_labels) {
    const auto path = fresh_directory(name);
    deepdyn::io::write_npy(path + "/train_images.npy", x);
    deepdyn::io::write_npy(path + "/train_labels.npy", y.clamp(0, 1).index_put_({0}, 1).index_put_({1}, 0));
    if (test_images.defined()) deepdyn::io::write_npy(path + "/test_images.npy", test_images);
    if (test_labels.defined()) deepdyn::io::write_npy(path + "/test_labels.npy", test_labels);
    return path;
  };
  const auto labels = torch::zeros({10}, torch::kLong);
  const std::pair<std::string, std::string> cases[] = {
      {directory("deq_bad_class", x, labels.clone().index_put_({3}, 2)), "test label 2 has no training images"},
      {directory("deq_bad_count", x, torch::zeros({9}, torch::kLong)), "expected 10 labels [N], one per image"},
      {directory("deq_bad_rank", x.flatten(1), labels), "expected images [N, H, W] or [N, C, H, W]"},
      {directory("deq_bad_sign", x, labels.clone().index_put_({0}, -1)), "label -1 is negative"},
      {directory("deq_bad_fraction", x, labels.to(torch::kFloat32).index_put_({0}, 0.5)), "must be whole numbers"},
      {directory("deq_bad_shape", x.narrow(2, 0, 3), labels), "both splits need one image shape"},
      {directory("deq_no_test", torch::Tensor(), torch::Tensor()), "has no test images"},
      {fresh_path("deq_absent"), "does not exist or is not a directory"},
  };
  for (const auto& [data, expected] : cases)
    deepdyn::testing::expect_refused_before_a_run("deq", "data=" + data, {expected});
}

}  // namespace
