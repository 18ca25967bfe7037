#pragma once
// The vectorised float32 tanh behind core::tanh, in a translation unit of its own: it is compiled
// for AVX2 + FMA and called only on CPUs that have them (core/activation.cpp checks).
#include <cstdint>

namespace deepdyn::core::detail {

/// out[i] = tanh(in[i]) for i < n, by Eigen's rational approximation (the one XLA uses), within
/// a few ulp of the correctly rounded value. Needs AVX2 and FMA.
void tanh_float_avx2(const float* in, float* out, int64_t n);

}  // namespace deepdyn::core::detail
