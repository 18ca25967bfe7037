#include "task.h"

#include <deepdyn/core/names.h>

#include <functional>

namespace deepdyn::cli {

Schema cnf_schema();
std::unique_ptr<Task> make_cnf_task(const Json& config, const Setup& setup);
Schema deq_schema();
std::unique_ptr<Task> make_deq_task(const Json& config, const Setup& setup);
Schema node_schema();
std::unique_ptr<Task> make_node_task(const Json& config, const Setup& setup);
Schema ode2vae_schema();
std::unique_ptr<Task> make_ode2vae_task(const Json& config, const Setup& setup);

namespace {

struct Registration {
  Schema schema;
  std::function<std::unique_ptr<Task>(const Json&, const Setup&)> make;
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

std::pair<torch::Tensor, torch::Tensor> fixed_split(int64_t n, int64_t held) {
  const auto order = torch::randperm(n, at::detail::createCPUGenerator(0), torch::kLong);
  return {order.narrow(0, held, n - held), order.narrow(0, 0, held)};
}

void seed_iteration(uint64_t seed, int64_t iteration, int64_t rank) {
  // splitmix64's finaliser mixes the three numbers into one well-spread seed.
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + uint64_t(iteration) * 0xBF58476D1CE4E5B9ull + uint64_t(rank) + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  torch::manual_seed(z ^ (z >> 31));
}

Schema with_common_settings(Schema specific, int64_t iterations, const Json& defaults) {
  Schema common = {
      {"iterations", iterations, "optimizer steps", {}, {}, 1},
      {"lr", 1e-3, "Adam learning rate (the schedule's first)", {}, 0.0},
      {"lr_schedule", "constant", "learning rate over the iterations: constant, cosine (from lr to lr_end), "
       "step_decay (x0.995 every 200 iterations, ODE2VAE's reference schedule)", {"constant", "cosine", "step_decay"}},
      {"lr_end", 1e-5, "the cosine schedule's last learning rate", {}, {}, 0.0},
      {"dtype", "float32", "floating-point type of the model and data", {"float32", "float64"}},
      {"eval_every", 0, "iterations between evaluations during training, and one at the last (0: only the "
       "final evaluation)", {}, {}, 0},
      {"keep_best", false, "end with the parameters of the best evaluation (needs eval_every > 0)"},
      {"checkpoint_every", 100, "iterations between checkpoints", {}, {}, 1},
      {"log_every", 10, "iterations between metrics lines", {}, {}, 1},
  };
  for (auto& setting : common)
    if (defaults.contains(setting.key)) setting.value = defaults[setting.key];
  common.insert(common.end(), specific.begin(), specific.end());
  return common;
}

ode::SolveOptions solve_options_of(const Json& config) {
  return ode::SolveOptions()
      .method(ode::parse_method(config["method"].get<std::string>()))
      .rtol(config["rtol"].get<double>())
      .atol(config["atol"].get<double>())
      .gradient(ode::parse_gradient(config["gradient"].get<std::string>()));
}

const std::vector<std::string>& task_names() { return registry().names(); }

const Schema& task_schema(const std::string& name) { return registry().parse(name).schema; }

std::unique_ptr<Task> make_task(const std::string& name, const Json& config, uint64_t seed, torch::Device device,
                                Shard shard) {
  TORCH_CHECK(!config["keep_best"].get<bool>() || config["eval_every"].get<int64_t>() > 0,
              "config key keep_best needs evaluations to choose from: set eval_every > 0");
  const Setup setup{seed, device, shard, config["dtype"] == "float64" ? torch::kFloat64 : torch::kFloat32};
  return registry().parse(name).make(config, setup);
}

Table table_of_draws(const torch::Tensor& draws, const SampleRequest& request, const std::string& model) {
  TORCH_CHECK(!request.y0 && !request.t, "--y0 and --t are for node runs, which integrate from a state; a ", model,
              " run draws samples: give only --n");
  auto rows = draws.detach().to(torch::kCPU, torch::kFloat64);
  rows = rows.reshape({rows.size(0), -1});
  std::vector<std::string> header;
  for (int64_t j = 0; j < rows.size(1); ++j) header.push_back("x" + std::to_string(j));
  return {rows, header};
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
