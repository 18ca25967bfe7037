// Compiled with -mavx2 -mfma (CMakeLists.txt): std::fma becomes one vectorised instruction.
#include <algorithm>
#include <cmath>

#include "ode/detail/step_kernels.h"

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

namespace {

template <bool masked, class T>
double scaled_square_sum_of(const T* __restrict error, const T* __restrict y0, const T* __restrict y1,
                            const T* __restrict mask, T rtol, T atol, int64_t n) {
  // One partial sum per lane of a block: independent chains the compiler keeps in vector
  // registers, where a single running sum would be one long serial dependency.
  constexpr int64_t lanes = 8;
  double partial[lanes] = {};
  auto square = [&](int64_t i) {
    T r = error[i] / (atol + rtol * std::max(std::abs(y0[i]), std::abs(y1[i])));
    if constexpr (masked) r *= mask[i];
    return static_cast<double>(r * r);
  };
  const int64_t blocked = n - n % lanes;
  for (int64_t i = 0; i < blocked; i += lanes)
    for (int64_t l = 0; l < lanes; ++l) partial[l] += square(i + l);
  double sum = 0;
  for (int64_t i = blocked; i < n; ++i) sum += square(i);
  for (double p : partial) sum += p;
  return sum;
}

}  // namespace

template <class T>
double scaled_square_sum(const T* error, const T* y0, const T* y1, const T* mask, double rtol, double atol, int64_t n) {
  const auto r = static_cast<T>(rtol), a = static_cast<T>(atol);
  return mask ? scaled_square_sum_of<true>(error, y0, y1, mask, r, a, n)
              : scaled_square_sum_of<false>(error, y0, y1, mask, r, a, n);
}

template void stage_sum<float>(const float*, const double*, const float* const*, int64_t, int64_t, float*);
template void stage_sum<double>(const double*, const double*, const double* const*, int64_t, int64_t, double*);
template double scaled_square_sum<float>(const float*, const float*, const float*, const float*, double, double,
                                         int64_t);
template double scaled_square_sum<double>(const double*, const double*, const double*, const double*, double, double,
                                          int64_t);

}  // namespace deepdyn::ode::detail
