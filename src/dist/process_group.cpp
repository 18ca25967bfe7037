// c10d's TCPStore, ProcessGroupGloo and ProcessGroupNCCL behind deepdyn::dist (see dist/process_group.h).
#include <deepdyn/dist/process_group.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include <deepdyn/core/names.h>

#ifdef DEEPDYN_WITH_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef DEEPDYN_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace deepdyn::dist {
namespace {

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

int64_t integer_variable(const char* name, const std::string& text, int64_t low, int64_t high) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  TORCH_CHECK(errno == 0 && end != text.c_str() && *end == '\0' && value >= low && value <= high, "environment variable ",
              name, "='", text, "' must be an integer in [", low, ", ", high, "]");
  return value;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

std::string seconds_text(std::chrono::milliseconds duration) {
  std::ostringstream out;
  out << duration.count() / 1000.0 << " s";
  return out.str();
}

}  // namespace

std::optional<Rendezvous> Rendezvous::from_environment(std::chrono::milliseconds timeout) {
  const auto world = environment("WORLD_SIZE");
  if (!world) return std::nullopt;
  Rendezvous r;
  r.timeout = timeout;
  r.world_size = integer_variable("WORLD_SIZE", *world, 1, 1 << 20);
  std::string missing;
  for (const char* name : {"RANK", "MASTER_ADDR", "MASTER_PORT"})
    if (!environment(name)) missing += std::string(missing.empty() ? "" : ", ") + name;
  TORCH_CHECK(missing.empty(), "WORLD_SIZE is set but ", missing,
              " is not: a data-parallel launch needs RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT "
              "(as torchrun sets them), or use --nproc N on one machine");
  r.rank = integer_variable("RANK", *environment("RANK"), 0, r.world_size - 1);
  r.address = *environment("MASTER_ADDR");
  r.port = int(integer_variable("MASTER_PORT", *environment("MASTER_PORT"), 1, 65535));
  if (const auto collectives = environment("DEEPDYN_CUDA_COLLECTIVES")) {
    static const core::NameTable<CudaCollectives> names(
        "DEEPDYN_CUDA_COLLECTIVES value", {{"nccl", CudaCollectives::nccl}, {"gloo", CudaCollectives::gloo}});
    r.cuda_collectives = names.parse(*collectives);
  }
  return r;
}

#ifdef DEEPDYN_WITH_GLOO

struct ProcessGroup::Impl {
  Rendezvous rendezvous;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef DEEPDYN_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;  // made at the first collective over CUDA tensors

  c10::intrusive_ptr<c10d::ProcessGroupNCCL>& nccl_group() {
    if (!nccl) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = rendezvous.timeout;
      nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("deepdyn-nccl", store),
                                                         int(rendezvous.rank), int(rendezvous.world_size), options);
    }
    return nccl;
  }
#endif

  bool through_nccl(const torch::Device& device) const {
    return device.is_cuda() && rendezvous.cuda_collectives == CudaCollectives::nccl;
  }

  // Starts every operation, each tensor on its backend, then waits for each: Gloo works on them in
  // its own threads, NCCL on its own CUDA stream (its wait() orders the caller's stream after it).
  template <typename Start>
  void run_all(const char* what, std::vector<torch::Tensor>& tensors, Start start) {
    try {
      std::vector<decltype(start(gloo, tensors))> works;
      for (auto& tensor : tensors) {
        std::vector<torch::Tensor> one{tensor};
#ifdef DEEPDYN_WITH_NCCL
        if (through_nccl(tensor.device())) {
          works.push_back(start(nccl_group(), one));
          continue;
        }
#endif
        works.push_back(start(gloo, one));
      }
      for (auto& work : works) work->wait(rendezvous.timeout);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "rank ", rendezvous.rank, " of ", rendezvous.world_size, ": the ", what,
                  " failed: another rank died, was stopped or stopped answering within ",
                  seconds_text(rendezvous.timeout), " (", first_line(e.what()), ")");
    }
  }

  void all_reduce(std::vector<torch::Tensor>& tensors, c10d::ReduceOp op, const char* what) {
    c10d::AllreduceOptions options;
    options.reduceOp = op;
    options.timeout = rendezvous.timeout;
    run_all(what, tensors,
            [&](auto& backend, std::vector<torch::Tensor>& one) { return backend->allreduce(one, options); });
  }
};

bool available() { return true; }

namespace {

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

// Gloo's network device: GLOO_SOCKET_IFNAME names the interface (as in PyTorch); a loopback
// MASTER_ADDR means every rank is on this machine; otherwise this machine's hostname.
std::shared_ptr<::gloo::transport::Device> gloo_device(const Rendezvous& r) {
  if (const auto interface = environment("GLOO_SOCKET_IFNAME"))
    return c10d::ProcessGroupGloo::createDeviceForInterface(*interface);
  if (is_loopback(r.address)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// Every rank counts itself in at the store, then waits until all have: a missing rank is named
// here, within the timeout, before Gloo would time out on its connections.
void wait_for_every_rank(c10d::Store& store, const Rendezvous& r, const std::string& who) {
  const std::string key = "deepdyn/joined";
  store.add(key, 1);
  const auto deadline = std::chrono::steady_clock::now() + r.timeout;
  for (int64_t joined = store.add(key, 0); joined < r.world_size; joined = store.add(key, 0)) {
    TORCH_CHECK(std::chrono::steady_clock::now() < deadline, who, "not every rank joined within ",
                seconds_text(r.timeout), ": ", joined, " of ", r.world_size, " are at the rendezvous store ",
                r.endpoint(), "; start ranks 0 to ", r.world_size - 1,
                " with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, or use --nproc N on one machine");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

ProcessGroup ProcessGroup::join(const Rendezvous& r) {
  TORCH_CHECK(r.world_size >= 1 && r.rank >= 0 && r.rank < r.world_size, "rank ", r.rank,
              " is outside a world of size ", r.world_size);
  TORCH_CHECK(r.cuda_collectives != CudaCollectives::nccl || nccl_available(),
              "NCCL was asked for CUDA tensors, but this deepdyn was built without it (it needs a CUDA LibTorch "
              "with NCCL, and nccl.h at configure time); ask for Gloo, which also all-reduces CUDA tensors");
  auto impl = std::make_shared<Impl>();
  impl->rendezvous = r;
  c10d::TCPStoreOptions store_options;
  store_options.port = uint16_t(r.port);
  store_options.isServer = r.rank == 0;
  store_options.numWorkers = size_t(r.world_size);
  store_options.waitWorkers = false;  // LibTorch 1.13's wait ends silently at the timeout: wait_for_every_rank
  store_options.timeout = r.timeout;
  const auto who = "rank " + std::to_string(r.rank) + " of " + std::to_string(r.world_size) + ": ";
  try {
    impl->store = c10::make_intrusive<c10d::TCPStore>(r.address, store_options);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, who,
                r.rank == 0 ? "could not host the rendezvous store at " + r.endpoint() +
                                  ": check that the port is free"
                            : "could not reach the rendezvous store at " + r.endpoint() + " within " +
                                  seconds_text(r.timeout) +
                                  ": is rank 0 running, and are MASTER_ADDR and MASTER_PORT its address and a port "
                                  "it can open?",
                " (", first_line(e.what()), ")");
  }
  wait_for_every_rank(*impl->store, r, who);
  auto options = c10d::ProcessGroupGloo::Options::create(r.timeout);
  options->threads = 2;
  try {
    options->devices.push_back(gloo_device(r));
    impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("deepdyn", impl->store), int(r.rank), int(r.world_size), options);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, who, "could not connect to the other ranks through the store at ", r.endpoint(), " within ",
                seconds_text(r.timeout), "; across machines set GLOO_SOCKET_IFNAME to the network interface (",
                first_line(e.what()), ")");
  }
  return ProcessGroup(std::move(impl));
}

int64_t ProcessGroup::rank() const { return impl_->rendezvous.rank; }
int64_t ProcessGroup::size() const { return impl_->rendezvous.world_size; }

std::string ProcessGroup::backend(const torch::Device& device) const {
  return impl_->through_nccl(device) ? "nccl" : "gloo";
}

void ProcessGroup::all_reduce_sum(std::vector<torch::Tensor> tensors) {
  impl_->all_reduce(tensors, c10d::ReduceOp::SUM, "all-reduce");
}

void ProcessGroup::all_reduce_max(std::vector<torch::Tensor> tensors) {
  impl_->all_reduce(tensors, c10d::ReduceOp::MAX, "all-reduce");
}

void ProcessGroup::broadcast(std::vector<torch::Tensor> tensors, int64_t root) {
  c10d::BroadcastOptions options;
  options.rootRank = root;
  options.timeout = impl_->rendezvous.timeout;
  impl_->run_all("broadcast", tensors,
                 [&](auto& backend, std::vector<torch::Tensor>& one) { return backend->broadcast(one, options); });
}

#else  // built without Gloo

struct ProcessGroup::Impl {
  Rendezvous rendezvous;
};

bool available() { return false; }

ProcessGroup ProcessGroup::join(const Rendezvous&) {
  TORCH_CHECK(false,
              "this deepdyn was built without Gloo, so it cannot train across processes; install libgloo-dev "
              "(scripts/setup.sh does) and build again");
}

int64_t ProcessGroup::rank() const { return impl_->rendezvous.rank; }
int64_t ProcessGroup::size() const { return impl_->rendezvous.world_size; }
std::string ProcessGroup::backend(const torch::Device&) const { return "none"; }
void ProcessGroup::all_reduce_sum(std::vector<torch::Tensor>) {}
void ProcessGroup::all_reduce_max(std::vector<torch::Tensor>) {}
void ProcessGroup::broadcast(std::vector<torch::Tensor>, int64_t) {}

#endif

bool nccl_available() {
#ifdef DEEPDYN_WITH_NCCL
  return true;
#else
  return false;
#endif
}

void ProcessGroup::broadcast_bytes(std::string& bytes, int64_t root) {
  auto length = torch::tensor({int64_t(bytes.size())}, torch::kLong);
  broadcast({length}, root);
  auto buffer = torch::empty({length.item<int64_t>()}, torch::kUInt8);
  if (rank() == root) std::memcpy(buffer.data_ptr(), bytes.data(), bytes.size());
  broadcast({buffer}, root);
  bytes.assign(static_cast<const char*>(buffer.data_ptr()), size_t(buffer.numel()));
}

GradientAverager::GradientAverager(ProcessGroup group, std::vector<torch::Tensor> parameters, int64_t bucket_bytes)
    : group_(std::move(group)), parameters_(std::move(parameters)) {
  TORCH_CHECK(bucket_bytes > 0, "bucket_bytes must be > 0, got ", bucket_bytes);
  // Consecutive parameters of one dtype and device share a bucket until it is full.
  int64_t filled = 0;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const auto& p = parameters_[i];
    const int64_t bytes = p.numel() * int64_t(p.element_size());
    const bool fits = !buckets_.empty() && filled + bytes <= bucket_bytes &&
                      parameters_[buckets_.back().front()].scalar_type() == p.scalar_type() &&
                      parameters_[buckets_.back().front()].device() == p.device();
    if (!fits) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().push_back(i);
    filled += bytes;
  }
}

void GradientAverager::average() {
  const auto start = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> flats;
  for (const auto& bucket : buckets_) {
    std::vector<torch::Tensor> pieces;
    for (size_t i : bucket) {
      const auto& grad = parameters_[i].grad();
      pieces.push_back(grad.defined() ? grad.reshape(-1) : torch::zeros({parameters_[i].numel()},
                                                                        parameters_[i].options()));
    }
    flats.push_back(torch::cat(pieces));
  }
  group_.all_reduce_sum(flats);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    flats[b].div_(double(group_.size()));
    int64_t offset = 0;
    for (size_t i : buckets_[b]) {
      auto& p = parameters_[i];
      auto averaged = flats[b].narrow(0, offset, p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(averaged);
      } else {
        p.mutable_grad() = averaged.clone();
      }
      offset += p.numel();
    }
  }
  last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void broadcast_module(ProcessGroup& group, torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors = module.parameters();
  for (const auto& buffer : module.buffers()) tensors.push_back(buffer);
  group.broadcast(tensors, 0);
}

void check_identical(ProcessGroup& group, const std::vector<torch::Tensor>& tensors, const std::string& what) {
  // FNV-1a over the raw bytes: exact, and independent of thread counts (unlike a floating-point sum).
  uint64_t hash = 1469598103934665603ull;
  for (const auto& tensor : tensors) {
    auto bytes = tensor.detach().contiguous().cpu();
    const auto* data = static_cast<const unsigned char*>(bytes.data_ptr());
    for (size_t i = 0, n = bytes.numel() * bytes.element_size(); i < n; ++i) hash = (hash ^ data[i]) * 1099511628211ull;
  }
  int64_t signed_hash;
  std::memcpy(&signed_hash, &hash, sizeof hash);
  // max(h) == min(h) on every rank iff all hashes agree; min(h) = ~max(~h).
  auto high = torch::tensor({signed_hash}, torch::kLong), inverted = torch::tensor({~signed_hash}, torch::kLong);
  group.all_reduce_max({high, inverted});
  TORCH_CHECK(high.item<int64_t>() == ~inverted.item<int64_t>(), "rank ", group.rank(), ": the ranks' ", what,
              " differ; data-parallel training needs identical models on every rank (same build, same config)");
}

}  // namespace deepdyn::dist
