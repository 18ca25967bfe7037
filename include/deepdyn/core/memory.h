#pragma once
// How the process's C allocator treats the tensors LibTorch frees (LibTorch's CPU allocator is
// glibc's malloc).
#include <torch/torch.h>

#include <cstdint>

namespace deepdyn::core {

/// Keeps freed tensor memory in the process for the next allocation instead of handing it back to
/// the operating system: glibc then serves blocks below `mmap_threshold_bytes` (32 MiB, the
/// largest threshold glibc chooses itself) from its heap, not one mmap each, and never trims the
/// heap. By default glibc returns memory as soon as the top of the heap is free, so every training
/// iteration that frees its autograd graph faults the same pages in again, zeroed by the kernel:
/// on the spiral's direct training step, three times the page faults at 410 NFE and 13-32% more
/// time (bench_ode_floor --glibc-defaults). The price: the process keeps its peak memory. Process-wide,
/// so a program calls it once at its start (the deepdyn command and the benchmarks do); without
/// code, GLIBC_TUNABLES=glibc.malloc.trim_threshold=2147483647:glibc.malloc.mmap_threshold=33554432
/// does the same. Returns false where the C library is not glibc (then nothing changed).
bool keep_freed_memory(int64_t mmap_threshold_bytes = int64_t(32) << 20);

/// torch::zeros_like(like) (contiguous, never requiring grad), made past LibTorch's dispatcher
/// for a CPU tensor: one allocation and one fill instead of three operator calls, for the
/// accumulators a solver makes anew at every evaluation.
torch::Tensor new_zeros_like(const torch::Tensor& like);

}  // namespace deepdyn::core
