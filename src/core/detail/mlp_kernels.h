#pragma once
// The elementwise passes behind core::mlp, on raw memory, in a translation unit of their own built
// for AVX2 + FMA with Eigen (CMakeLists.txt) and called only on CPUs that have both
// (core/mlp.cpp checks). No LibTorch here; the GEMMs are LibTorch's (BLAS), which measured faster
// than Eigen's for every layer shape but the smallest, which the product_few_* kernels take.
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

/// The layer shapes that BLAS handles poorly (a field's first layer on a low-dimensional state, its
/// last layer back to it): c = a b (+ bias, broadcast over rows, when bias is not null) for a
/// [rows, inner], row-major, into c [rows, cols].
/// Few inner (<= kFewInner): b row-major [inner, cols]; one pass over c.
template <class T>
void product_few_inner(const T* a, int64_t rows, int64_t inner, const T* b, int64_t cols, const T* bias, T* c);
/// Few columns (<= kFewColumns): b given as its columns, bt row-major [cols, inner]; a GEMV per column.
template <class T>
void product_few_columns(const T* a, int64_t rows, int64_t inner, const T* bt, int64_t cols, const T* bias, T* c);
constexpr int64_t kFewInner = 4, kFewColumns = 4;

/// y = x^3, and gx = 3 x^2 gy, elementwise over n values.
template <class T>
void cube_forward(const T* x, T* y, int64_t n);
template <class T>
void cube_backward(const T* x, const T* gy, T* gx, int64_t n);

}  // namespace deepdyn::core::detail
