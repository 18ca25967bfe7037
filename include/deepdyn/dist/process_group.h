#pragma once
// Data-parallel training over LibTorch's c10d: a TCP store for the rendezvous, a Gloo process group
// for the collectives over CPU tensors and, in a build with NCCL, an NCCL one for CUDA tensors
// (torch.distributed's default "cpu:gloo,cuda:nccl"; no communication layer of our own).
//
// Launch like torchrun: every process gets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT;
// rank 0 hosts the store at MASTER_ADDR:MASTER_PORT, the others connect to it.
#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace deepdyn::dist {

/// Whether this build has Gloo (libgloo-dev at configure time); without it join() fails with a
/// message that says how to get it.
bool available();
/// Whether this build has NCCL (a CUDA LibTorch with NCCL and nccl.h at configure time).
bool nccl_available();

/// The library that runs collectives over CUDA tensors; CPU tensors always go through Gloo.
enum class CudaCollectives {
  nccl,  ///< NCCL: GPU to GPU, one GPU per rank (two ranks on one GPU are refused by NCCL)
  gloo,  ///< Gloo: through host memory, any number of ranks per GPU
};

/// Where the processes meet and who this one is.
struct Rendezvous {
  std::string address = "127.0.0.1";  ///< MASTER_ADDR: the machine of rank 0
  int port = 29500;                    ///< MASTER_PORT
  int64_t rank = 0;                    ///< RANK
  int64_t world_size = 1;              ///< WORLD_SIZE
  /// How long to wait for the store, the other ranks and every collective before failing.
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  /// NCCL where this build has it, as in PyTorch; DEEPDYN_CUDA_COLLECTIVES=gloo|nccl chooses.
  CudaCollectives cuda_collectives = nccl_available() ? CudaCollectives::nccl : CudaCollectives::gloo;

  /// From RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and DEEPDYN_CUDA_COLLECTIVES when set);
  /// nullopt when WORLD_SIZE is unset.
  /// A partial or malformed set is an error that names the variable.
  static std::optional<Rendezvous> from_environment(std::chrono::milliseconds timeout = std::chrono::seconds(300));
  std::string endpoint() const { return address + ":" + std::to_string(port); }
};

/// A group of processes joined through a rendezvous. Collectives fail with an error, never hang
/// past the timeout, when a rank died (its connections close) or stopped answering.
class ProcessGroup {
 public:
  /// Joins (or, as rank 0, hosts) the store and connects to every other rank. An unreachable store
  /// or missing ranks give an error naming the address after the timeout.
  /// Asking for NCCL in a build without it is an error; the NCCL group itself is made at the first
  /// collective over CUDA tensors (it needs a GPU, so a group on a machine without one still works).
  static ProcessGroup join(const Rendezvous& rendezvous);

  int64_t rank() const;
  int64_t size() const;
  /// "gloo" or "nccl": the library that runs this group's collectives over tensors on `device`.
  std::string backend(const torch::Device& device) const;

  /// In-place sums over all ranks; the tensors travel in one batch of asynchronous operations.
  void all_reduce_sum(std::vector<torch::Tensor> tensors);
  void all_reduce_max(std::vector<torch::Tensor> tensors);
  /// In-place: every rank ends with root's values.
  void broadcast(std::vector<torch::Tensor> tensors, int64_t root = 0);
  /// Every rank ends with root's bytes.
  void broadcast_bytes(std::string& bytes, int64_t root = 0);

  struct Impl;

 private:
  explicit ProcessGroup(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

/// Averages gradients over the ranks after backward, the way DistributedDataParallel does:
/// gradients are packed into buckets of at most `bucket_bytes` (one per dtype and device at
/// least), one all-reduce per bucket, all in flight at once. A parameter without a gradient
/// contributes zeros, so every rank sends the same layout.
class GradientAverager {
 public:
  GradientAverager(ProcessGroup group, std::vector<torch::Tensor> parameters, int64_t bucket_bytes = 25 << 20);
  void average();
  int64_t buckets() const { return int64_t(buckets_.size()); }
  /// Wall time of the last average() (packing, all-reduce, unpacking).
  double last_seconds() const { return last_seconds_; }

 private:
  ProcessGroup group_;
  std::vector<torch::Tensor> parameters_;
  std::vector<std::vector<size_t>> buckets_;  // indices into parameters_
  double last_seconds_ = 0;
};

/// Copies rank 0's parameters and buffers to every rank (DistributedDataParallel does this at
/// construction), so the ranks start from one model whatever their random streams did.
void broadcast_module(ProcessGroup& group, torch::nn::Module& module);

/// Fails unless every rank holds the same values (checks a fingerprint: sum and sum of squares per
/// tensor, via max and min all-reduces). `what` names the tensors in the error.
void check_identical(ProcessGroup& group, const std::vector<torch::Tensor>& tensors, const std::string& what);

}  // namespace deepdyn::dist
