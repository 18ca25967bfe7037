// core::mlp's kernels built for AVX2 and FMA (CMakeLists.txt), in namespace detail::avx2.
#define DEEPDYN_KERNEL_ISA avx2
#include "core/detail/mlp_kernels_impl.h"
