#pragma once
// The Runge-Kutta stage combination on raw memory (stage_sum_avx2.cpp, built for AVX2 + FMA and
// called only on CPUs that have both: core/detail/cpu_features.h).
#include <cstdint>

namespace deepdyn::ode::detail {

/// out = base + sum_j alphas[j] terms[j] over n values, term by term and each as one fused
/// multiply-add (base + alpha k rounded once), the rounding of LibTorch's add(base, k, alpha) on
/// these CPUs, so a solve takes the same steps with and without this kernel. base may be null (0);
/// out may be base.
template <class T>
void stage_sum(const T* base, const double* alphas, const T* const* terms, int64_t count, int64_t n, T* out);

}  // namespace deepdyn::ode::detail
