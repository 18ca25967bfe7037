#pragma once
// Rows of true frames above predicted frames, for sequences of single-channel images.
// Kept out of the umbrella header, like the io layer it uses.
#include <torch/torch.h>

#include <string>

namespace deepdyn::ode2vae {

/// Writes a PNG (atomically) of the first `rows` sequences of truth and predicted [N, T, 1, H, W].
void save_prediction_rows(const torch::Tensor& truth, const torch::Tensor& predicted, const std::string& title,
                          const std::string& path, int rows = 4);

}  // namespace deepdyn::ode2vae
