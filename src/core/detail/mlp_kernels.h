#pragma once
// The elementwise passes behind core::mlp, on raw memory, built with Eigen in translation units of
// their own, once for AVX2 + FMA and once for AVX-512 (mlp_kernels_impl.h, CMakeLists.txt); each
// function here runs the widest build this CPU has, and is called only on CPUs with AVX2 and FMA
// (core/mlp.cpp checks). No LibTorch here; the GEMMs are LibTorch's (BLAS), which measured faster
// than Eigen's for every layer shape but the smallest, which the product_few_* kernels take.
#include <cstdint>

#include "core/detail/cpu_features.h"

namespace deepdyn::core::detail {

/// The elementwise activations of the fused kernels, in core::Activation's order.
enum class KernelActivation { Tanh, Softplus, Sigmoid, Elu, Identity };

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

constexpr int64_t kNarrowBlock = 64;
inline int64_t narrow_hidden_size(int64_t width, int64_t rows) {
  return (rows + kNarrowBlock - 1) / kNarrowBlock * kNarrowBlock * width;
}
constexpr int64_t kFewInner = 4, kFewColumns = 4;

// Each instruction set's build of the kernels (mlp_kernels_impl.h, compiled by mlp_kernels_avx2.cpp
// and mlp_kernels_avx512.cpp); the functions below run the widest one this CPU has.
#define DEEPDYN_KERNEL_DECLARATIONS                                                                     \
  template <class T>                                                                                    \
  void activate(KernelActivation, T*, int64_t);                                                         \
  template <class T>                                                                                    \
  void multiply_slope(KernelActivation, const T*, T*, int64_t);                                         \
  template <class T>                                                                                    \
  void stacked_activation_backward(KernelActivation, const T*, const T*, T*, T*, int64_t, int64_t);     \
  template <class T>                                                                                    \
  void activate_stacked(KernelActivation, const T*, T*, int64_t, int64_t, int64_t);                     \
  template <class T>                                                                                    \
  void add_column_sums(const T*, int64_t, int64_t, T*);                                                 \
  template <class T>                                                                                    \
  void product_few_inner(const T*, int64_t, int64_t, const T*, int64_t, const T*, T*);                  \
  template <class T>                                                                                    \
  void product_few_columns(const T*, int64_t, int64_t, const T*, int64_t, const T*, T*);                \
  template <class T>                                                                                    \
  void narrow_forward(const NarrowNet<T>&, const T*, int64_t, T*, T*);                                  \
  template <class T>                                                                                    \
  void narrow_backward(const NarrowNet<T>&, const T*, const T*, const T*, int64_t, T*, T*, T*, T*, T*); \
  template <class T>                                                                                    \
  void cube_forward(const T*, T*, int64_t);                                                             \
  template <class T>                                                                                    \
  void cube_backward(const T*, const T*, T*, int64_t);
namespace avx2 {
DEEPDYN_KERNEL_DECLARATIONS
}  // namespace avx2
namespace avx512 {
DEEPDYN_KERNEL_DECLARATIONS
}  // namespace avx512
#undef DEEPDYN_KERNEL_DECLARATIONS
#define DEEPDYN_KERNEL(call) (use_avx512_kernels() ? avx512::call : avx2::call)

/// v = act(v) in place over n values. Softplus is LibTorch's (x past 20 passes through).
template <class T>
void activate(KernelActivation activation, T* v, int64_t n) {
  DEEPDYN_KERNEL(activate<T>(activation, v, n));
}

/// g *= act'(x) in place, the slope expressed through y = act(x) alone: tanh 1 - y^2, sigmoid
/// y (1 - y), softplus 1 - e^-y, elu y + 1 below zero.
template <class T>
void multiply_slope(KernelActivation activation, const T* y, T* g, int64_t n) {
  DEEPDYN_KERNEL(multiply_slope<T>(activation, y, g, n));
}

/// The backward of a hidden layer's activation in core::mlp_divergence's stacked layout, in place:
/// y = act(x) [n] and the forward's tangents t_k = act'(x) v_k (`directions` blocks of n) give,
/// from the cotangents of y (g_value) and of every t_k (g_tangents),
///   v_bar_k = act'(x) t_bar_k,   x_bar = act'(x) y_bar + (act''(x) / act'(x)) sum_k t_bar_k t_k,
/// the curvature act''/act' through y alone (tanh -2y, sigmoid 1 - 2y, softplus e^-y, elu 1 below
/// zero and 0 above, identity 0): the tangents the forward kept need no division by a slope that
/// may round to zero.
template <class T>
void stacked_activation_backward(KernelActivation activation, const T* y, const T* tangents, T* g_value, T* g_tangents,
                                 int64_t directions, int64_t n) {
  DEEPDYN_KERNEL(stacked_activation_backward<T>(activation, y, tangents, g_value, g_tangents, directions, n));
}

/// A hidden layer's activation pass in core::mlp_divergence's stacked layout [value; tangent 1;
/// ...], in place: the value rows [rows, width] become act(a + bias) (bias [width], or none), and
/// every tangent block is multiplied by the slope act'(a + bias) (multiply_slope). Identity: the
/// bias alone.
template <class T>
void activate_stacked(KernelActivation activation, const T* bias, T* stacked, int64_t rows, int64_t width,
                      int64_t directions) {
  DEEPDYN_KERNEL(activate_stacked<T>(activation, bias, stacked, rows, width, directions));
}

/// sums [width] += the column sums of g [rows, width] (row-major): a bias's gradient.
template <class T>
void add_column_sums(const T* g, int64_t rows, int64_t width, T* sums) {
  DEEPDYN_KERNEL(add_column_sums<T>(g, rows, width, sums));
}

/// The layer shapes that BLAS handles poorly (a field's first layer on a low-dimensional state, its
/// last layer back to it): c = a b (+ bias, broadcast over rows, when bias is not null) for a
/// [rows, inner], row-major, into c [rows, cols].
/// Few inner (<= kFewInner): b row-major [inner, cols]; one pass over c.
template <class T>
void product_few_inner(const T* a, int64_t rows, int64_t inner, const T* b, int64_t cols, const T* bias, T* c) {
  DEEPDYN_KERNEL(product_few_inner<T>(a, rows, inner, b, cols, bias, c));
}
/// Few columns (<= kFewColumns): b given as its columns, bt row-major [cols, inner]; a GEMV per column.
template <class T>
void product_few_columns(const T* a, int64_t rows, int64_t inner, const T* bt, int64_t cols, const T* bias, T* c) {
  DEEPDYN_KERNEL(product_few_columns<T>(a, rows, inner, bt, cols, bias, c));
}

/// out [rows, out] = the network at x [rows, in]. Blocks of kNarrowBlock rows run with the rows in
/// the vector lanes (the hidden layer transposed, width x block, in L1): no sum runs across lanes,
/// and the hidden layer reaches memory only if `hidden` is not null: then it is kept there, block
/// after block, for narrow_backward (narrow_hidden_size values, 64-byte aligned).
template <class T>
void narrow_forward(const NarrowNet<T>& net, const T* x, int64_t rows, T* out, T* hidden) {
  DEEPDYN_KERNEL(narrow_forward<T>(net, x, rows, out, hidden));
}

/// The vector-Jacobian product of narrow_forward for g [rows, out], from the hidden layer it kept
/// or, where `hidden` is null, recomputed block by block: gx [rows, in] (when not null) and the
/// parameters' gradients, added to gw1 [width, in], gb1 [width], gw2 [out, width] and gb2 [out]
/// (each may be null).
template <class T>
void narrow_backward(const NarrowNet<T>& net, const T* x, const T* hidden, const T* g, int64_t rows, T* gx, T* gw1,
                     T* gb1, T* gw2, T* gb2) {
  DEEPDYN_KERNEL(narrow_backward<T>(net, x, hidden, g, rows, gx, gw1, gb1, gw2, gb2));
}

/// y = x^3, and gx = 3 x^2 gy, elementwise over n values.
template <class T>
void cube_forward(const T* x, T* y, int64_t n) {
  DEEPDYN_KERNEL(cube_forward<T>(x, y, n));
}
template <class T>
void cube_backward(const T* x, const T* gy, T* gx, int64_t n) {
  DEEPDYN_KERNEL(cube_backward<T>(x, gy, gx, n));
}

#undef DEEPDYN_KERNEL

}  // namespace deepdyn::core::detail
