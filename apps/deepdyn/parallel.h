#pragma once
// The processes of one training run: a single one, or the ranks of a data-parallel group
// (started by `--nproc N`, or by a launcher that sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
#include <deepdyn/dist/process_group.h>

#include <chrono>
#include <optional>
#include <string>

#include "task.h"

namespace deepdyn::cli {

class Workers {
 public:
  /// One process, or, with WORLD_SIZE in the environment, this process's rank in a joined group.
  /// `nproc` is the --nproc asked for (1 when not given); it must agree with WORLD_SIZE.
  static Workers join(int64_t nproc, std::chrono::milliseconds timeout);

  int64_t rank() const { return group_ ? group_->rank() : 0; }
  int64_t size() const { return group_ ? group_->size() : 1; }
  bool leader() const { return rank() == 0; }
  Shard shard() const { return {rank(), size()}; }
  /// The device of this rank: cuda becomes cuda:LOCAL_RANK, one GPU per local process.
  torch::Device device(torch::Device asked) const;

  /// Gives every rank rank 0's model (they then stay identical) and sets up gradient averaging.
  void start(Task& task);
  /// After backward: every rank's gradients become the mean over the ranks.
  void average_gradients();
  /// Seconds the last average_gradients() took (0 in one process).
  double last_average_seconds() const { return averager_ ? averager_->last_seconds() : 0; }
  /// The mean of the ranks' metrics, and `stop` true on every rank when it was true on any, so a
  /// signal that reaches the ranks at different moments still stops them at one iteration.
  StepMetrics agree(const StepMetrics& mine, bool& stop);
  /// Fails unless every rank holds the same parameters.
  void check_identical(Task& task);
  /// Every rank ends with rank 0's bytes (the config and checkpoint of a resumed run).
  void share(std::string& bytes);

 private:
  std::optional<dist::ProcessGroup> group_;
  std::optional<dist::GradientAverager> averager_;
};

}  // namespace deepdyn::cli
