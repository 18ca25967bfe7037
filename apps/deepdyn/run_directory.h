#pragma once
// The directory of one training run:
//   run.json        model type, seed, threads, device
//   config.json     the resolved config
//   metrics.jsonl   one JSON line per logged iteration: iteration, loss, nfe_forward, nfe_backward, time,
//                   lr, and the evaluation where one was made (eval_every)
//   checkpoint.pt   model and optimizer state, iteration, the best evaluated parameters with
//                   keep_best (training.h; written atomically: temp file + rename)
//   summary.json    written last: a run without it did not finish
//   *.png           loss and NFE curves, the model's own pictures
#include <torch/torch.h>

#include <memory>
#include <string>

#include "config.h"

namespace deepdyn::cli {

struct RunInfo {
  std::string model;
  uint64_t seed = 0;
  int threads = 1;
  std::string device = "cpu";
  int64_t processes = 1;  ///< data-parallel ranks that trained it
};

class RunDirectory {
 public:
  explicit RunDirectory(std::string path) : path_(std::move(path)) {}
  /// Creates a fresh directory and writes run.json and config.json; this process becomes its writer.
  /// An existing non-empty directory is refused, unless it holds a run that stopped before its
  /// first checkpoint (nothing of it can be resumed): that run is replaced.
  static RunDirectory create(const std::string& path, const RunInfo& info, const Json& config);
  /// Whether `path` holds a run that stopped before its first checkpoint.
  static bool holds_run_without_checkpoint(const std::string& path);
  /// Opens an existing run directory, with a clear error when it is not one.
  static RunDirectory open(const std::string& path);

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  RunInfo info() const;
  Json config() const;
  bool complete() const;
  bool has_checkpoint() const;
  /// Makes this process the directory's only writer for the lifetime of this object and its copies:
  /// a second train or resume of the directory fails at once instead of mixing its files with ours.
  void lock_for_writing();

  void append_metrics(const Json& line) const;
  /// Drops metric lines past `iteration` (written after the checkpoint a resumed run restarts from).
  void truncate_metrics(int64_t iteration) const;
  Json read_metrics() const;  ///< array of the metric lines
  void write_json(const std::string& name, const Json& value) const;  ///< atomically

  /// The bytes of checkpoint.pt (verified against its checksums), with a clear error when the run has none.
  /// What a checkpoint holds is the training unit's (training.h); it writes it atomically.
  std::string read_checkpoint() const;

 private:
  std::string path_;
  std::shared_ptr<const int> lock_;  ///< the directory's descriptor, flock()ed while we write
};

}  // namespace deepdyn::cli
