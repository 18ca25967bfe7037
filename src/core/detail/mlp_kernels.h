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

/// g *= act''(x) / act'(x) in place, through y = act(x) alone: tanh -2y, sigmoid 1 - 2y, softplus
/// e^-y (1 - sigmoid(x)), elu 1 below zero and 0 above, identity 0. With the slope it gives the
/// second-order term of a Jacobian-vector product's backward from the tangent act'(x) v that the
/// forward kept, without dividing by a slope that may round to zero.
template <class T>
void multiply_curvature(KernelActivation activation, const T* y, T* g, int64_t n);

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

/// A narrow network, in -> width (activation) -> out with in and out at most kNarrow: the field of
/// a low-dimensional state (torchdiffeq's ode_demo spiral, 2 -> 50 -> 2). Weights row-major
/// [width, in] and [out, width] (nn::Linear's layout); cube: the input is x^3.
template <class T>
struct NarrowNet {
  const T *w1, *b1, *w2, *b2;
  int64_t in, width, out;
  KernelActivation activation;
  bool cube;
};
constexpr int64_t kNarrow = 4;

/// out [rows, out] = the network at x [rows, in]. Blocks of kNarrowBlock rows run with the rows in
/// the vector lanes (the hidden layer transposed, width x block, in L1): no sum runs across lanes,
/// and the hidden layer reaches memory only if `hidden` is not null: then it is kept there, block
/// after block, for narrow_backward (narrow_hidden_size values, 64-byte aligned).
template <class T>
void narrow_forward(const NarrowNet<T>& net, const T* x, int64_t rows, T* out, T* hidden);

/// The vector-Jacobian product of narrow_forward for g [rows, out], from the hidden layer it kept
/// or, where `hidden` is null, recomputed block by block: gx [rows, in] (when not null) and the
/// parameters' gradients, added to gw1 [width, in], gb1 [width], gw2 [out, width] and gb2 [out]
/// (each may be null).
template <class T>
void narrow_backward(const NarrowNet<T>& net, const T* x, const T* hidden, const T* g, int64_t rows, T* gx, T* gw1,
                     T* gb1, T* gw2, T* gb2);

constexpr int64_t kNarrowBlock = 64;
inline int64_t narrow_hidden_size(int64_t width, int64_t rows) {
  return (rows + kNarrowBlock - 1) / kNarrowBlock * kNarrowBlock * width;
}

/// y = x^3, and gx = 3 x^2 gy, elementwise over n values.
template <class T>
void cube_forward(const T* x, T* y, int64_t n);
template <class T>
void cube_backward(const T* x, const T* gy, T* gx, int64_t n);

}  // namespace deepdyn::core::detail
