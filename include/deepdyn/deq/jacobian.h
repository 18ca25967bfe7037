#pragma once
#include <torch/torch.h>

namespace deepdyn::deq {

// Diagnostics and regularizers of the Jacobian J = d f(z) / d z of a fixed-point map, each computed
// per sample from vector-Jacobian products of a graph fz = f(z) (z requires grad). The first
// dimension indexes independent samples.

/// Hutchinson's estimate of ||J||_F^2 = E_v ||v^T J||^2, v ~ N(0, I) (Hutchinson 1989; used as a
/// DEQ regularizer by Bai, Koltun & Kolter 2021), averaged over `probes` draws; [batch]. With
/// create_graph it is differentiable w.r.t. f's parameters, so it can be added to the loss.
torch::Tensor jacobian_frobenius(const torch::Tensor& fz, const torch::Tensor& z, int64_t probes = 1,
                                 bool create_graph = true);

/// Power-method estimate of the spectral radius of J (the modulus of its dominant eigenvalue, when
/// one dominates), iterating v <- v^T J / ||v^T J||; [batch]. Below 1 the fixed point attracts.
torch::Tensor spectral_radius(const torch::Tensor& fz, const torch::Tensor& z, int64_t iterations = 50);

}  // namespace deepdyn::deq
