#pragma once
// A trainable model type of the deepdyn command: its config schema and what one training
// iteration, an evaluation, sampling, pictures and checkpoints do.
#include <ATen/CPUGeneratorImpl.h>
#include <deepdyn/ode/options.h>
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"

namespace deepdyn::cli {

struct StepMetrics {
  double loss = 0;
  int64_t nfe_forward = 0, nfe_backward = 0;
};

/// This process's part of every batch in data-parallel training: rank r of n takes rows
/// [r B/n, (r+1) B/n). Equal parts of a mean loss make the ranks' average gradient the full batch's.
struct Shard {
  int64_t rank = 0, count = 1;
  /// Refuses a batch that does not split evenly; `key` is its config key.
  void check(int64_t batch, const char* key) const;
  torch::Tensor of(const torch::Tensor& batch) const;
};

/// What every task is built with: the run's seed, this process's device and shard of every batch,
/// and the config's dtype.
struct Setup {
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
  Shard shard;
  torch::Dtype dtype = torch::kFloat32;
  torch::TensorOptions options() const { return torch::TensorOptions().dtype(dtype).device(device); }
};

/// What `deepdyn sample` asks for: n draws, or (node) the model integrated from a given state y0
/// (1-D) to the times t.
struct SampleRequest {
  int64_t n = 1000;
  std::optional<torch::Tensor> y0, t;
};

/// Rows of numbers and their column names, as sample writes them (CSV or .pt).
struct Table {
  torch::Tensor rows;  ///< [n, k]
  std::vector<std::string> header;
};

/// Draws [n, ...] as a table with columns x0, x1, ...; refuses a request with a y0 or t, which
/// only node runs take. `model` names the model type in the error.
Table table_of_draws(const torch::Tensor& draws, const SampleRequest& request, const std::string& model);

/// A model type: its model, data, loss and evaluation. The training unit (training.h) does the rest.
class Task {
 public:
  virtual ~Task() = default;
  /// The loss of this process's shard of the iteration's batch, and its gradients accumulated into
  /// the model's parameters (the caller zeroes them before and steps the optimizer after).
  /// `iteration` counts from 1 and picks the iteration's data.
  virtual StepMetrics gradients(int64_t iteration) = 0;
  /// Held-out numbers of the current model, e.g. {"nll": 2.9}.
  virtual Json evaluate() = 0;
  /// The number of evaluate() that ranks models (keep_best keeps the best of them).
  struct Headline {
    std::string key;
    bool lower_is_better = true;
  };
  virtual Headline headline() const = 0;
  /// Samples of the trained model (draws, or trajectories for node).
  virtual Table sample(const SampleRequest& request) = 0;
  /// The model's own files, written into `directory` (pictures, the trained field as TorchScript);
  /// returns their names.
  virtual std::vector<std::string> write_outputs(const std::string& directory) = 0;
  virtual torch::nn::Module& model() = 0;
};

/// The settings every model type has (iterations, optimizer and schedule, dtype, evaluation,
/// checkpoint and log intervals) before the model type's own; `defaults` replaces some of their
/// defaults, e.g. {{"dtype", "float64"}}.
Schema with_common_settings(Schema specific, int64_t iterations, const Json& defaults = Json::object());

/// ode::SolveOptions from the config keys method, rtol, atol and gradient.
ode::SolveOptions solve_options_of(const Json& config);

/// A generator for the random choices of one iteration (which windows, images or sequences):
/// a function of (seed, iteration) alone, so a resumed run sees the same batches.
at::Generator iteration_generator(uint64_t seed, int64_t iteration);

/// n items split into (training, held-out) indices [n - held] and [held] by a fixed random draw,
/// not the run's seed: every run on the same file evaluates the same items.
std::pair<torch::Tensor, torch::Tensor> fixed_split(int64_t n, int64_t held);

/// Seeds the global random streams (Hutchinson probes, weight draws) for one iteration of one
/// data-parallel rank: ranks draw independent noise, and a resumed run draws what it would have.
void seed_iteration(uint64_t seed, int64_t iteration, int64_t rank);

/// The model types: cnf, deq, node, ode2vae.
const std::vector<std::string>& task_names();
const Schema& task_schema(const std::string& name);
std::unique_ptr<Task> make_task(const std::string& name, const Json& config, uint64_t seed, torch::Device device,
                                Shard shard = {});

}  // namespace deepdyn::cli
