#pragma once
// Which vector instructions this CPU has, for the kernels built for AVX2 + FMA (the *_avx2.cpp
// translation units): callers take those kernels only where this says yes.

namespace deepdyn::core::detail {

inline bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

/// AVX-512 F, DQ, VL and BW: core::mlp's kernels have a build for them (mlp_kernels_avx512.cpp),
/// taken where this says yes; they need AVX2 and FMA besides, which every such CPU has.
inline bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  return has;
}

}  // namespace deepdyn::core::detail
