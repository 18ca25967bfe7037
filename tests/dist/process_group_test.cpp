// The c10d-backed process group in one process: ranks are threads that meet on a loopback store.
#include <deepdyn/dist/launch.h>
#include <deepdyn/dist/process_group.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "support/error_message.h"
#include "support/gpu.h"

namespace dd = deepdyn;

namespace {

// Runs body(group) on `ranks` threads joined into one group; rethrows the first failure.
void with_ranks(int64_t ranks, const std::function<void(dd::dist::ProcessGroup&)>& body,
                dd::dist::CudaCollectives cuda_collectives = dd::dist::Rendezvous().cuda_collectives) {
  const int port = dd::dist::free_port();
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(ranks));
  for (int64_t r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        dd::dist::Rendezvous rendezvous;
        rendezvous.port = port;
        rendezvous.rank = r;
        rendezvous.world_size = ranks;
        rendezvous.timeout = std::chrono::seconds(20);
        rendezvous.cuda_collectives = cuda_collectives;
        auto group = dd::dist::ProcessGroup::join(rendezvous);
        body(group);
      } catch (...) {
        errors[size_t(r)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Sets environment variables for one test and restores them after.
class Environment {
 public:
  Environment(std::initializer_list<std::pair<const char*, const char*>> values) {
    for (const char* name : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "DEEPDYN_CUDA_COLLECTIVES"}) {
      const char* old = getenv(name);
      saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
      unsetenv(name);
    }
    for (const auto& [name, value] : values) setenv(name, value, 1);
  }
  ~Environment() {
    for (const auto& [name, value] : saved_) value ? setenv(name.c_str(), value->c_str(), 1) : unsetenv(name.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

}  // namespace

TEST(ProcessGroup, IsBuiltWithGloo) { EXPECT_TRUE(dd::dist::available()); }

TEST(ProcessGroup, AveragesGradientsInBucketsOfEveryDtype) {
  with_ranks(3, [](dd::dist::ProcessGroup& group) {
    const double r = double(group.rank());
    auto a = torch::zeros({3, 4}, torch::kFloat64).requires_grad_();
    auto b = torch::zeros({5}, torch::kFloat32).requires_grad_();
    auto c = torch::zeros({7}, torch::kFloat64).requires_grad_();
    auto unused = torch::zeros({2}, torch::kFloat64).requires_grad_();  // no gradient on any rank
    a.mutable_grad() = torch::arange(12, torch::kFloat64).view({3, 4}) * (r + 1);
    b.mutable_grad() = torch::full({5}, r, torch::kFloat32);
    c.mutable_grad() = torch::full({7}, 10 * r, torch::kFloat64);
    // 64 bytes: a (96 bytes) alone; b has another dtype; c and `unused` share the last bucket.
    dd::dist::GradientAverager averager(group, {a, b, c, unused}, 64);
    EXPECT_EQ(averager.buckets(), 4);
    averager.average();
    EXPECT_TRUE(torch::equal(a.grad(), torch::arange(12, torch::kFloat64).view({3, 4}) * 2.0));  // (1 + 2 + 3) / 3
    EXPECT_TRUE(torch::equal(b.grad(), torch::full({5}, 1.0, torch::kFloat32)));
    EXPECT_TRUE(torch::equal(c.grad(), torch::full({7}, 10.0, torch::kFloat64)));
    EXPECT_TRUE(torch::equal(unused.grad(), torch::zeros({2}, torch::kFloat64)));
    EXPECT_GE(averager.last_seconds(), 0.0);
  });
}

TEST(ProcessGroup, SendsCudaTensorsThroughNcclWhereBuiltWithItAndRefusesToAskForItWhereNot) {
  dd::dist::Rendezvous rendezvous;
  rendezvous.port = dd::dist::free_port();
  rendezvous.timeout = std::chrono::seconds(20);
  rendezvous.cuda_collectives = dd::dist::CudaCollectives::nccl;
  if (!dd::dist::nccl_available()) {
    EXPECT_EQ(dd::dist::Rendezvous().cuda_collectives, dd::dist::CudaCollectives::gloo);
    const auto message = deepdyn::testing::error_message([&] { dd::dist::ProcessGroup::join(rendezvous); });
    EXPECT_NE(message.find("built without it"), std::string::npos) << message;
    return;
  }
  EXPECT_EQ(dd::dist::Rendezvous().cuda_collectives, dd::dist::CudaCollectives::nccl);
  // No GPU is needed to join: the NCCL group is made at the first collective over CUDA tensors.
  auto group = dd::dist::ProcessGroup::join(rendezvous);
  EXPECT_EQ(group.backend(torch::kCUDA), "nccl");
  EXPECT_EQ(group.backend(torch::kCPU), "gloo");
  auto t = torch::full({3}, 2.0);
  group.all_reduce_sum({t});
  EXPECT_TRUE(torch::equal(t, torch::full({3}, 2.0)));
}

TEST(ProcessGroup, AllReducesGpuTensorsThroughGlooWithTwoRanksOnOneGpu) {
  DEEPDYN_SKIP_WITHOUT_GPU();
  with_ranks(
      2,
      [](dd::dist::ProcessGroup& group) {
        EXPECT_EQ(group.backend(torch::kCUDA), "gloo");
        auto t = torch::full({4}, double(group.rank() + 1), torch::dtype(torch::kFloat64).device(torch::kCUDA));
        group.all_reduce_sum({t});
        ASSERT_TRUE(t.is_cuda());
        EXPECT_TRUE(torch::equal(t.cpu(), torch::full({4}, 3.0, torch::kFloat64)));
      },
      dd::dist::CudaCollectives::gloo);
}

// One rank per GPU (NCCL refuses two ranks on one GPU): a group of one on a single-GPU machine,
// of two where there are two or more.
TEST(ProcessGroup, AveragesGpuGradientsThroughNcclAndCpuTensorsThroughGlooInOneGroup) {
  DEEPDYN_SKIP_WITHOUT_GPU();
  if (!dd::dist::nccl_available()) GTEST_SKIP() << "this deepdyn was built without NCCL";
  const int64_t ranks = std::min<int64_t>(2, int64_t(torch::cuda::device_count()));
  with_ranks(
      ranks,
      [ranks](dd::dist::ProcessGroup& group) {
        const torch::Device gpu(torch::kCUDA, c10::DeviceIndex(group.rank()));
        EXPECT_EQ(group.backend(gpu), "nccl");
        const double r = double(group.rank());
        auto weight = torch::zeros({3, 5}, torch::dtype(torch::kFloat32).device(gpu)).requires_grad_();
        auto bias = torch::zeros({5}, torch::dtype(torch::kFloat64).device(gpu)).requires_grad_();
        weight.mutable_grad() = torch::full({3, 5}, r + 1, weight.options());
        bias.mutable_grad() = torch::arange(5, bias.options()) * (r + 1);
        dd::dist::GradientAverager averager(group, {weight, bias});
        averager.average();
        const double mean_factor = (ranks + 1) / 2.0;  // mean of 1..ranks
        EXPECT_TRUE(torch::allclose(weight.grad().cpu(), torch::full({3, 5}, mean_factor)));
        EXPECT_TRUE(torch::allclose(bias.grad().cpu(), torch::arange(5, torch::kFloat64) * mean_factor));
        auto on_host = torch::full({2}, r);  // through Gloo in the same group
        auto on_gpu = torch::full({2}, r, torch::dtype(torch::kFloat64).device(gpu));
        group.all_reduce_max({on_host, on_gpu});
        EXPECT_TRUE(torch::equal(on_host, torch::full({2}, double(ranks - 1))));
        EXPECT_TRUE(torch::equal(on_gpu.cpu(), torch::full({2}, double(ranks - 1), torch::kFloat64)));
        auto from_root = torch::full({4}, r + 7, torch::dtype(torch::kFloat64).device(gpu));
        group.broadcast({from_root}, 0);
        EXPECT_TRUE(torch::equal(from_root.cpu(), torch::full({4}, 7.0, torch::kFloat64)));
      });
}

TEST(ProcessGroup, BroadcastsModulesAndBytesAndChecksThatRanksAgree) {
  with_ranks(2, [](dd::dist::ProcessGroup& group) {
    torch::manual_seed(uint64_t(group.rank()) + 1);  // different initial weights on each rank
    torch::nn::Linear layer(3, 2);
    EXPECT_THROW(dd::dist::check_identical(group, layer->parameters(), "weights"), c10::Error);
    const auto before = layer->weight.detach().clone();
    dd::dist::broadcast_module(group, *layer);
    dd::dist::check_identical(group, layer->parameters(), "weights");  // no throw
    if (group.rank() == 0) {
      EXPECT_TRUE(torch::equal(layer->weight, before));
    }
    auto sum = layer->weight.detach().clone();
    group.all_reduce_sum({sum});
    EXPECT_TRUE(torch::equal(sum, 2 * layer->weight.detach()));

    std::string bytes = group.rank() == 0 ? std::string("rank zero's\0bytes", 17) : std::string("other");
    group.broadcast_bytes(bytes);
    EXPECT_EQ(bytes, std::string("rank zero's\0bytes", 17));
  });
}

TEST(ProcessGroup, AnUnreachableStoreIsAnErrorNamingItsAddressAfterTheTimeout) {
  dd::dist::Rendezvous rendezvous;
  rendezvous.port = dd::dist::free_port();  // nobody listens there
  rendezvous.rank = 1;
  rendezvous.world_size = 2;
  rendezvous.timeout = std::chrono::seconds(1);
  const auto start = std::chrono::steady_clock::now();
  const auto message = deepdyn::testing::error_message([&] { dd::dist::ProcessGroup::join(rendezvous); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(message.find("rank 1 of 2: could not reach the rendezvous store at 127.0.0.1:" + std::to_string(rendezvous.port)),
            std::string::npos)
      << message;
  EXPECT_LT(seconds, 15.0);
}

TEST(Rendezvous, ReadsTorchrunsEnvironmentAndNamesWhatIsMissingOrWrong) {
  {
    Environment env({});
    EXPECT_FALSE(dd::dist::Rendezvous::from_environment());
  }
  {
    Environment env({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "29511"}});
    const auto r = dd::dist::Rendezvous::from_environment();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->rank, 1);
    EXPECT_EQ(r->world_size, 4);
    EXPECT_EQ(r->endpoint(), "10.0.0.7:29511");
  }
  {
    Environment env({{"WORLD_SIZE", "2"}, {"RANK", "0"}});
    const auto message = deepdyn::testing::error_message([] { dd::dist::Rendezvous::from_environment(); });
    EXPECT_NE(message.find("MASTER_ADDR, MASTER_PORT is not"), std::string::npos) << message;
  }
  {
    Environment env({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}});
    const auto message = deepdyn::testing::error_message([] { dd::dist::Rendezvous::from_environment(); });
    EXPECT_NE(message.find("RANK='2' must be an integer in [0, 1]"), std::string::npos) << message;
  }
  {
    Environment env({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"},
                     {"DEEPDYN_CUDA_COLLECTIVES", "gloo"}});
    EXPECT_EQ(dd::dist::Rendezvous::from_environment()->cuda_collectives, dd::dist::CudaCollectives::gloo);
  }
  {
    Environment env({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"},
                     {"DEEPDYN_CUDA_COLLECTIVES", "mpi"}});
    const auto message = deepdyn::testing::error_message([] { dd::dist::Rendezvous::from_environment(); });
    EXPECT_NE(message.find("unknown DEEPDYN_CUDA_COLLECTIVES value 'mpi': valid names are nccl, gloo"),
              std::string::npos)
        << message;
  }
}

TEST(Launch, RunsEveryRankWithItsEnvironmentAndReportsTheFirstFailure) {
  // Rank 1 fails with status 3; rank 0 would sleep for a minute but is stopped. (exec: a sleep
  // left behind by a killed shell would hold ctest's output pipe open for that minute.)
  const auto start = std::chrono::steady_clock::now();
  const auto result = dd::dist::launch_local(
      {"/bin/sh", "-c",
       "test \"$WORLD_SIZE\" = 2 -a -n \"$MASTER_PORT\" || exit 9; [ \"$RANK\" = 1 ] && exit 3; exec sleep 60"},
      2, std::chrono::seconds(5));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10.0);
  EXPECT_EQ(result.status, 3);
  ASSERT_TRUE(result.failed_rank);
  EXPECT_EQ(*result.failed_rank, 1);
  EXPECT_EQ(result.reason, "rank 1 exited with status 3");
  const auto ok = dd::dist::launch_local({"/bin/sh", "-c", "exit 0"}, 3);
  EXPECT_EQ(ok.status, 0);
  EXPECT_FALSE(ok.failed_rank);
}
