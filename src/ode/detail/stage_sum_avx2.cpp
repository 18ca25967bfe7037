// Compiled with -mavx2 -mfma (CMakeLists.txt): std::fma becomes one vectorised instruction.
#include <cmath>

#include "ode/detail/stage_sum.h"

namespace deepdyn::ode::detail {

template <class T>
void stage_sum(const T* base, const double* alphas, const T* const* terms, int64_t count, int64_t n, T* out) {
  for (int64_t j = 0; j < count; ++j) {
    const T* __restrict k = terms[j];
    const auto alpha = static_cast<T>(alphas[j]);
    const T* acc = j > 0 ? out : base;
    if (acc)
      for (int64_t i = 0; i < n; ++i) out[i] = std::fma(alpha, k[i], acc[i]);
    else
      for (int64_t i = 0; i < n; ++i) out[i] = alpha * k[i];
  }
}

template void stage_sum<float>(const float*, const double*, const float* const*, int64_t, int64_t, float*);
template void stage_sum<double>(const double*, const double*, const double* const*, int64_t, int64_t, double*);

}  // namespace deepdyn::ode::detail
