// Compiled with -mavx2 -mfma and without the precompiled LibTorch header (CMakeLists.txt): only
// Eigen's code is built for AVX2 here, so no inline function of LibTorch's gets an AVX2 copy that
// the linker could hand to code running on an older CPU.
#include <Eigen/Core>

#include "core/detail/tanh_kernel.h"

namespace deepdyn::core::detail {

void tanh_float_avx2(const float* in, float* out, int64_t n) {
  Eigen::Map<Eigen::ArrayXf>(out, n) = Eigen::Map<const Eigen::ArrayXf>(in, n).tanh();
}

}  // namespace deepdyn::core::detail
