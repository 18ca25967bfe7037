#include "task.h"

#include <deepdyn/core/names.h>

#include <functional>

namespace deepdyn::cli {

Schema cnf_schema();
std::unique_ptr<Task> make_cnf_task(const Json& config, uint64_t seed, torch::Device device, Shard shard);
Schema deq_schema();
std::unique_ptr<Task> make_deq_task(const Json& config, uint64_t seed, torch::Device device, Shard shard);
Schema node_schema();
std::unique_ptr<Task> make_node_task(const Json& config, uint64_t seed, torch::Device device, Shard shard);
Schema ode2vae_schema();
std::unique_ptr<Task> make_ode2vae_task(const Json& config, uint64_t seed, torch::Device device, Shard shard);

namespace {

struct Registration {
  Schema schema;
  std::function<std::unique_ptr<Task>(const Json&, uint64_t, torch::Device, Shard)> make;
};

const core::NameTable<Registration>& registry() {
  static const core::NameTable<Registration> tasks("model type", {{"cnf", {cnf_schema(), make_cnf_task}},
                                                                  {"deq", {deq_schema(), make_deq_task}},
                                                                  {"node", {node_schema(), make_node_task}},
                                                                  {"ode2vae", {ode2vae_schema(), make_ode2vae_task}}});
  return tasks;
}

}  // namespace

at::Generator iteration_generator(uint64_t seed, int64_t iteration) {
  return at::detail::createCPUGenerator(seed * 1000003 + uint64_t(iteration));
}

void seed_iteration(uint64_t seed, int64_t iteration, int64_t rank) {
  // splitmix64's finaliser mixes the three numbers into one well-spread seed.
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + uint64_t(iteration) * 0xBF58476D1CE4E5B9ull + uint64_t(rank) + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  torch::manual_seed(z ^ (z >> 31));
}

Schema with_common_settings(Schema specific, int64_t iterations) {
  Schema common = {
      {"iterations", iterations, "optimizer steps", {}, {}, 1},
      {"lr", 1e-3, "Adam learning rate", {}, 0.0},
      {"dtype", "float32", "floating-point type of the model and data", {"float32", "float64"}},
      {"checkpoint_every", 100, "iterations between checkpoints", {}, {}, 1},
      {"log_every", 10, "iterations between metrics lines", {}, {}, 1},
  };
  common.insert(common.end(), specific.begin(), specific.end());
  return common;
}

const std::vector<std::string>& task_names() { return registry().names(); }

const Schema& task_schema(const std::string& name) { return registry().parse(name).schema; }

std::unique_ptr<Task> make_task(const std::string& name, const Json& config, uint64_t seed, torch::Device device,
                                Shard shard) {
  return registry().parse(name).make(config, seed, device, shard);
}

void Shard::check(int64_t batch, const char* key) const {
  TORCH_CHECK(batch % count == 0, "config key '", key, "' = ", batch, " does not split evenly over ", count,
              " processes; use a multiple of ", count);
}

torch::Tensor Shard::of(const torch::Tensor& batch) const {
  const int64_t rows = batch.size(0) / count;
  return batch.narrow(0, rank * rows, rows);
}

}  // namespace deepdyn::cli
