#pragma once
// Measured trajectories of a dynamical system from a CSV, .npy or .pt file, for fitting a Neural ODE to one's
// own data.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace deepdyn::data {

/// One trajectory: its states y(t_i) at strictly increasing, possibly irregular, times.
struct Trajectory {
  std::string id;   ///< the value of its `trajectory` column
  torch::Tensor t;  ///< [n] float64, n >= 2
  torch::Tensor y;  ///< [n, d] float64
};

/// Reads trajectories from CSV text with the header `trajectory,t,y1,...,yd` (any state column
/// names, d >= 1) and one row per observation: rows of a trajectory in increasing t, trajectories
/// in the order they first appear. Every value must be a finite number. A bad file is refused
/// with one line that names it, the line and column, and what was expected (a missing or short
/// header, a ragged row, a value that is not a finite number, time going backwards, a trajectory
/// of one row, no rows at all).
std::vector<Trajectory> read_trajectories_csv(const std::string& path);

/// Trajectories from `path` by its extension: ".csv" (read_trajectories_csv), or ".npy"/".pt" holding
/// a 2-D array [rows, 2 + d] with the CSV's columns: trajectory (a whole number), t, y1..yd. The same
/// rules hold, and a bad array is refused the same way, naming its row and column.
std::vector<Trajectory> read_trajectories(const std::string& path);

}  // namespace deepdyn::data
