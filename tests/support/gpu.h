#pragma once
// Tests that need a GPU skip, saying why, where none is visible: a CPU-only LibTorch, or a CUDA
// build on a machine without a GPU (which has then compiled and linked the GPU paths, not run them).
#include <ATen/Context.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>

#define DEEPDYN_SKIP_WITHOUT_GPU()                                                                                 \
  do {                                                                                                             \
    if (!torch::cuda::is_available())                                                                              \
      GTEST_SKIP() << (at::hasCUDA() ? "no GPU visible: this CUDA build of LibTorch cannot run the test here"      \
                                     : "this LibTorch is CPU-only: build against a CUDA LibTorch to run the test"); \
  } while (false)
