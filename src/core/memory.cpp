#include "deepdyn/core/memory.h"

#include <c10/util/Exception.h>

#include <climits>
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

}  // namespace deepdyn::core
