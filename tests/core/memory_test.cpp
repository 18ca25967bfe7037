// core::keep_freed_memory: tensors come from glibc's heap and their memory stays there when freed.
#include <deepdyn/core/memory.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

TEST(KeepFreedMemory, TensorsComeFromTheHeapAndStayThereWhenFreed) {
#if defined(__GLIBC__)
  ASSERT_TRUE(deepdyn::core::keep_freed_memory());
  const auto before = mallinfo2();
  auto block = torch::ones({4 << 20}, torch::kFloat32);  // 16 MiB: by default one mmap, unmapped when freed
  const auto holding = mallinfo2();
  EXPECT_EQ(holding.hblkhd, before.hblkhd);  // not an mmap: from the heap
  block = torch::Tensor();
  const auto after = mallinfo2();
  EXPECT_EQ(after.arena, holding.arena);            // the heap was not trimmed
  EXPECT_GE(after.fordblks, size_t(16) << 20);      // it holds the block free for the next tensor
#else
  EXPECT_FALSE(deepdyn::core::keep_freed_memory());
#endif
  EXPECT_THROW(deepdyn::core::keep_freed_memory(0), c10::Error);
}

}  // namespace
