// core::mlp's kernels built for AVX-512 (F, DQ, VL, BW) with FMA (CMakeLists.txt), in namespace detail::avx512.
#define DEEPDYN_KERNEL_ISA avx512
#include "core/detail/mlp_kernels_impl.h"
