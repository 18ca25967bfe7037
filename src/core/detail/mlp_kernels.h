#pragma once
// The elementwise passes behind core::mlp, on raw memory, in a translation unit of their own built
// for AVX2 + FMA with Eigen (CMakeLists.txt) and called only on CPUs that have both
// (core/mlp.cpp checks). No LibTorch here; the GEMMs are LibTorch's (BLAS), which measured faster
// than Eigen's for every layer shape but the smallest (bench_mlp).
#include <cstdint>

namespace deepdyn::core::detail {

/// The elementwise activations of the fused kernels, in core::Activation's order.
enum class KernelActivation { Tanh, Softplus, Sigmoid, Elu, Identity };

/// v = act(v) in place over n values. Softplus is LibTorch's (x past 20 passes through).
template <class T>
void activate(KernelActivation activation, T* v, int64_t n);

/// g *= act'(x) in place, the slope expressed through y = act(x) alone: tanh 1 - y^2, sigmoid
/// y (1 - y), softplus 1 - e^-y, elu y + 1 below zero.
template <class T>
void multiply_slope(KernelActivation activation, const T* y, T* g, int64_t n);

/// y = x^3, and gx = 3 x^2 gy, elementwise over n values.
template <class T>
void cube_forward(const T* x, T* y, int64_t n);
template <class T>
void cube_backward(const T* x, const T* gy, T* gx, int64_t n);

}  // namespace deepdyn::core::detail
