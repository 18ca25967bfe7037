#pragma once
// The picture of a trained 2-D flow: its density as a heat map next to samples from the model and
// from the data (FFJORD's figure). Kept out of the umbrella header, like the io layer it uses.
#include <torch/torch.h>

#include <string>

#include "deepdyn/cnf/cnf.h"

namespace deepdyn::cnf {

/// Writes the PNG (atomically) covering [-extent, extent]^2: 3 panels of 240 x 240 pixels under a title.
void save_density_picture(CNF& flow, const torch::Tensor& data, const std::string& title, const std::string& path,
                          double extent = 4.0);

}  // namespace deepdyn::cnf
