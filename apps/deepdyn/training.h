#pragma once
// The training unit of the deepdyn command: everything a run does around its task's loss. It owns
// the optimizer (Adam) and its learning-rate schedule, the iteration loop across the data-parallel
// workers, progress, metrics and curves, evaluations during training with best-iterate selection
// (keep_best), and what a checkpoint holds (model, optimizer, the best parameters so far), so an
// interrupted run resumes bit for bit. Tasks (task.h) define only model, data, loss and evaluation.
#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "parallel.h"
#include "run_directory.h"
#include "task.h"

namespace deepdyn::cli {

class Training {
 public:
  /// `config` is the run's resolved config (its common settings: with_common_settings).
  Training(Task& task, Json config);

  /// The learning rate of `iteration` (from 1): a function of the iteration alone, so a resumed
  /// run follows the same schedule.
  double learning_rate(int64_t iteration) const;

  /// Restores model, optimizer and the best parameters so far from checkpoint bytes; returns their
  /// iteration. Damaged bytes and tensors of other shapes than the task's (an edited config) are
  /// refused; `origin` names the checkpoint in errors.
  int64_t restore(const std::string& checkpoint, const std::string& origin);

  /// Iterations first..last, then (on the leader) pictures, evaluation and summary. Every rank runs
  /// it; only the leader has `run`. Returns the exit status: 0, or 130 when a signal stopped it.
  int run(const RunDirectory* run, Workers& workers, const RunInfo& info, int64_t first,
          std::optional<int64_t> stop_after);

 private:
  /// Evaluates the current model and, with keep_best, remembers it when it is the best so far.
  Json evaluate(int64_t iteration);
  void save_checkpoint(const RunDirectory& run, int64_t iteration) const;
  int finish(const RunDirectory& run);

  /// The best evaluation so far and the model's tensors then (parameters, then buffers).
  struct Best {
    int64_t iteration = 0;
    double score = 0;
    std::vector<torch::Tensor> state;
  };

  Task& task_;
  Json config_;
  torch::optim::Adam optimizer_;
  Best best_;
};

}  // namespace deepdyn::cli
