#include "deepdyn/core/memory.h"

#include <ATen/EmptyTensor.h>
#include <c10/util/Exception.h>

#include <climits>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace deepdyn::core {

bool keep_freed_memory(int64_t mmap_threshold_bytes) {
  TORCH_CHECK(mmap_threshold_bytes > 0 && mmap_threshold_bytes <= INT_MAX,
              "keep_freed_memory: mmap_threshold_bytes must be in (0, 2^31), got ", mmap_threshold_bytes);
#if defined(__GLIBC__)
  // Setting either value also turns off glibc's own adjustment of both (mallopt(3)).
  return mallopt(M_MMAP_THRESHOLD, int(mmap_threshold_bytes)) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
#else
  return false;
#endif
}

torch::Tensor new_zeros_like(const torch::Tensor& like) {
  if (!like.device().is_cpu() || like.layout() != torch::kStrided)
    return torch::zeros_like(like, at::MemoryFormat::Contiguous).requires_grad_(false);
  torch::Tensor zeros = at::detail::empty_cpu(like.sizes(), like.scalar_type());
  std::memset(zeros.data_ptr(), 0, zeros.nbytes());  // all-zero bytes are 0 in every dtype LibTorch has
  return zeros;
}

}  // namespace deepdyn::core
