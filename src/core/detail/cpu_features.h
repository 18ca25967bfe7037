#pragma once
// Which vector instructions this CPU has, for the kernels built for AVX2 + FMA (the *_avx2.cpp
// translation units) and AVX-512: callers take those kernels only where this says yes.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace deepdyn::core::detail {

inline bool cpu_has_avx2_fma() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

/// Whether core::mlp's kernels run their AVX-512 build (mlp_kernels_avx512.cpp): where the CPU has
/// AVX-512 F, DQ, VL and BW (and so AVX2 and FMA), unless the environment variable DEEPDYN_KERNELS
/// is "avx2" (to compare the builds, or where AVX-512 lowers the clock); "avx512" or unset: by
/// the CPU. Read once per process.
inline bool use_avx512_kernels() {
  static const bool use = [] {
    const char* choice = std::getenv("DEEPDYN_KERNELS");
    if (choice != nullptr && std::strcmp(choice, "avx2") == 0) return false;
    if (choice != nullptr && std::strcmp(choice, "avx512") != 0 && choice[0] != '\0')
      throw std::invalid_argument(std::string("DEEPDYN_KERNELS must be avx2 or avx512 (or unset: by the CPU), got '") +
                                  choice + "'");
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  }();
  return use;
}

}  // namespace deepdyn::core::detail
