#pragma once
// A Runge-Kutta step's arithmetic on raw memory (step_kernels_avx2.cpp, built for AVX2 + FMA and
// called only on CPUs that have both: core/detail/cpu_features.h).
#include <cstdint>

namespace deepdyn::ode::detail {

/// out = base + sum_j alphas[j] terms[j] over n values, term by term and each as one fused
/// multiply-add (base + alpha k rounded once), the rounding of LibTorch's add(base, k, alpha) on
/// these CPUs, so a solve takes the same steps with and without this kernel. base may be null (0);
/// out may be base.
template <class T>
void stage_sum(const T* base, const double* alphas, const T* const* terms, int64_t count, int64_t n, T* out);

/// sum_i (mask_i error_i / (atol + rtol max(|y0_i|, |y1_i|)))^2 over n values: each ratio in T, as
/// the general path (and torchdiffeq) computes it, its square summed in float64. mask may be null
/// (all ones).
template <class T>
double scaled_square_sum(const T* error, const T* y0, const T* y1, const T* mask, double rtol, double atol, int64_t n);

}  // namespace deepdyn::ode::detail
