// deepdyn train ode2vae on sequences written here: frames [N, T, C, H, W] and vectors [N, T, D]
// from .npy and .pt files, and bad files refused before a run directory exists.
#include <deepdyn/io/arrays.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
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

const std::string kTiny =
    " --set iterations=2 --set batch=2 --set latent=3 --set field_hidden=8 --set checkpoint_every=2";

TEST(Ode2vaeData, TrainsOnFramesAndVectorsFromFiles) {
  // Vectors: oscillators x(t) = (cos(w t + p), sin(w t + p), 0.1 t); frames: a bright square that moves.
  const auto t = torch::arange(8, torch::kFloat32) * 0.1;
  std::vector<torch::Tensor> vectors;
  for (int i = 0; i < 10; ++i)
    vectors.push_back(torch::stack({torch::cos(2 * t + 0.3 * i), torch::sin(2 * t + 0.3 * i), 0.1 * t}, 1));
  const auto npy = fresh_path("sequences_vectors.npy");
  deepdyn::io::write_npy(npy, torch::stack(vectors));
  auto frames = torch::zeros({6, 5, 1, 8, 8}, torch::kUInt8);
  for (int i = 0; i < 6; ++i)
    for (int k = 0; k < 5; ++k) frames[i][k][0].narrow(0, k, 3).narrow(1, (i + k) % 6, 3).fill_(255);
  const auto pt = deepdyn::testing::write_pt(fresh_path("sequences_frames.pt"), frames);

  const std::pair<std::string, int64_t> cases[] = {{npy, 2}, {pt, 1}};  // held out: 20%
  for (const auto& [file, held_out] : cases) {
    const auto dir = fresh_path("ode2vae_data_run");
    auto result = run_cli("train ode2vae --out " + dir + " --set data=" + file + kTiny);
    ASSERT_EQ(result.status, 0) << file << ": " << result.err;
    const auto evaluation = nlohmann::json::parse(read_file(dir + "/summary.json"))["evaluation"];
    EXPECT_TRUE(std::isfinite(evaluation["mse"].get<double>())) << evaluation;
    EXPECT_TRUE(std::isfinite(evaluation["last_frame_mse"].get<double>())) << evaluation;
    EXPECT_EQ(evaluation["test_sequences"], held_out) << file;
    EXPECT_TRUE(fs::exists(dir + "/predictions.png")) << file;
    result = run_cli("sample " + dir + " --n 3 --out " + dir + "/samples.pt");
    EXPECT_EQ(result.status, 0) << result.err;
  }
}

TEST(Ode2vaeData, BadFilesAreRefusedBeforeARunDirectoryExists) {
  const auto save = [](const std::string& name, const torch::Tensor& array) {
    const auto path = fresh_path(name);
    deepdyn::io::write_npy(path, array);
    return path;
  };
  const std::pair<std::string, std::string> cases[] = {
      {save("seq_rank.npy", torch::rand({4, 6, 8, 8})), "expected frames [N, T, C, H, W] or vectors [N, T, D]"},
      {save("seq_range.npy", torch::rand({4, 6, 1, 8, 8}) * 2), "frames need values in [0, 1]"},
      {save("seq_nan.npy", torch::rand({4, 6, 3}).index_put_({1, 2, 0}, NAN)), "not a finite number"},
      {save("seq_side.npy", torch::rand({4, 6, 1, 6, 6})), "square frames whose side is a multiple of 4"},
      {save("seq_short.npy", torch::rand({4, 3, 2})), "sequences of 3 steps"},
      {"seq.csv", "must be bballs, fmnist or a sequences file"},
  };
  for (const auto& [file, expected] : cases)
    deepdyn::testing::expect_refused_before_a_run("ode2vae", "data=" + file, {expected});
}

}  // namespace
