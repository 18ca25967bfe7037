#pragma once
// Which vector instructions this CPU has, for the kernels built for AVX2 + FMA (the *_avx2.cpp
// translation units): callers take those kernels only where this says yes.

namespace deepdyn::core::detail {

inline bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

}  // namespace deepdyn::core::detail
