#include "parallel.h"

#include <deepdyn/dist/launch.h>

#include <cstdlib>

namespace deepdyn::cli {

Workers Workers::join(int64_t nproc, std::chrono::milliseconds timeout) {
  Workers workers;
  dist::follow_launcher();
  const auto rendezvous = dist::Rendezvous::from_environment(timeout);
  if (!rendezvous) return workers;
  TORCH_CHECK(nproc == 1 || nproc == rendezvous->world_size, "--nproc ", nproc, " and WORLD_SIZE=",
              rendezvous->world_size, " disagree; give one of them");
  if (rendezvous->world_size > 1) workers.group_ = dist::ProcessGroup::join(*rendezvous);
  return workers;
}

torch::Device Workers::device(torch::Device asked) const {
  if (!asked.is_cuda() || size() == 1) return asked;
  const char* local = std::getenv("LOCAL_RANK");
  const int64_t local_rank = local != nullptr ? std::atoll(local) : rank();
  const int64_t gpus = int64_t(torch::cuda::device_count());
  TORCH_CHECK(local_rank < gpus || group_->backend(asked) != "nccl", "rank ", rank(), " is local process ", local_rank,
              " on a machine with ", gpus, " GPU(s), and NCCL needs one GPU per process: start at most ", gpus,
              " processes per machine, or set DEEPDYN_CUDA_COLLECTIVES=gloo to share GPUs");
  return torch::Device(torch::kCUDA, c10::DeviceIndex(local_rank % gpus));
}

void Workers::start(Task& task) {
  if (!group_) return;
  dist::broadcast_module(*group_, task.model());
  averager_.emplace(*group_, task.model().parameters());
}

void Workers::average_gradients() {
  if (averager_) averager_->average();
}

StepMetrics Workers::agree(const StepMetrics& mine, bool& stop) {
  if (!group_) return mine;
  auto values = torch::tensor({mine.loss, double(mine.nfe_forward), double(mine.nfe_backward), stop ? 1.0 : 0.0},
                              torch::kFloat64);
  group_->all_reduce_sum({values});
  values /= double(size());
  auto v = values.accessor<double, 1>();
  stop = v[3] > 0;
  return {v[0], std::llround(v[1]), std::llround(v[2])};
}

void Workers::check_identical(Task& task) {
  if (group_) dist::check_identical(*group_, task.model().parameters(), "model parameters");
}

void Workers::share(std::string& bytes) {
  if (group_) group_->broadcast_bytes(bytes);
}

}  // namespace deepdyn::cli
