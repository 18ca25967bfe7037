// Compiled with -mavx2 -mfma and without the precompiled LibTorch header (CMakeLists.txt), as
// tanh_kernel_avx2.cpp: only Eigen's code is built for AVX2 here.
#include <Eigen/Core>

#include <cmath>
#include <type_traits>

#include "core/detail/mlp_kernels.h"

namespace deepdyn::core::detail {
namespace {

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// Above this LibTorch's softplus (beta 1) returns its input.
constexpr double kSoftplusThreshold = 20;

// e^v - 1. Eigen's float expm1 is vectorised and accurate; its double one (exp and log
// approximations combined by Kahan's trick) was 70 ulp off here, so double takes the C library's.
template <class Expression>
auto accurate_expm1(const Eigen::ArrayBase<Expression>& v) {
  using T = typename Expression::Scalar;
  if constexpr (std::is_same_v<T, double>) {
    return v.unaryExpr([](double x) { return std::expm1(x); });
  } else {
    return v.expm1();
  }
}

}  // namespace

template <class T>
void activate(KernelActivation activation, T* values, int64_t n) {
  ArrayMap<T> v(values, n);
  switch (activation) {
    case KernelActivation::Tanh:
      v = v.tanh();  // float: Eigen's rational approximation (vectorised), as XLA's
      return;
    case KernelActivation::Softplus:
      v = (v > T(kSoftplusThreshold)).select(v, v.min(T(kSoftplusThreshold)).exp().log1p());
      return;
    case KernelActivation::Sigmoid:
      v = (T(1) + (-v).exp()).inverse();  // Eigen's logistic() approximates: 4668 ulp off at -30
      return;
    case KernelActivation::Elu:
      v = (v > T(0)).select(v, accurate_expm1(v.min(T(0))));
      return;
    case KernelActivation::Identity:
      return;
  }
}

template <class T>
void multiply_slope(KernelActivation activation, const T* output, T* gradient, int64_t n) {
  ConstArrayMap<T> y(output, n);
  ArrayMap<T> g(gradient, n);
  switch (activation) {
    case KernelActivation::Tanh:
      g *= T(1) - y.square();
      return;
    case KernelActivation::Softplus:  // 1 - e^-y = sigmoid(x), as -expm1(-y): accurate where y is tiny
      g *= (y > T(kSoftplusThreshold)).select(T(1), -accurate_expm1(-y));
      return;
    case KernelActivation::Sigmoid:
      g *= y * (T(1) - y);
      return;
    case KernelActivation::Elu:
      g *= (y > T(0)).select(T(1), y + T(1));
      return;
    case KernelActivation::Identity:
      return;
  }
}

namespace {

// c_r = bias + sum_{k < Inner} a_rk b_k for every row r, one write per element of c: the loop over
// the contiguous columns vectorises, and Inner known at compile time unrolls the sum.
template <int Inner, class T>
void product_few_inner_fixed(const T* __restrict a, int64_t rows, const T* __restrict b, int64_t cols,
                             const T* __restrict bias, T* __restrict c) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* ar = a + r * Inner;
    T* cr = c + r * cols;
    for (int64_t j = 0; j < cols; ++j) {
      T acc = bias ? bias[j] : T(0);
      for (int k = 0; k < Inner; ++k) acc += ar[k] * b[k * cols + j];
      cr[j] = acc;
    }
  }
}

}  // namespace

template <class T>
void product_few_inner(const T* a, int64_t rows, int64_t inner, const T* b, int64_t cols, const T* bias, T* c) {
  switch (inner) {
    case 1:
      return product_few_inner_fixed<1>(a, rows, b, cols, bias, c);
    case 2:
      return product_few_inner_fixed<2>(a, rows, b, cols, bias, c);
    case 3:
      return product_few_inner_fixed<3>(a, rows, b, cols, bias, c);
    default:
      return product_few_inner_fixed<kFewInner>(a, rows, b, cols, bias, c);
  }
}

template <class T>
void product_few_columns(const T* a, int64_t rows, int64_t inner, const T* bt, int64_t cols, const T* bias, T* c) {
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const RowMajor> A(a, rows, inner);
  Eigen::Map<RowMajor> C(c, rows, cols);
  for (int64_t j = 0; j < cols; ++j) {
    C.col(j).noalias() = A * Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(bt + j * inner, inner);
    if (bias) C.col(j).array() += bias[j];
  }
}

template <class T>
void cube_forward(const T* x, T* y, int64_t n) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).cube();
}

template <class T>
void cube_backward(const T* x, const T* gy, T* gx, int64_t n) {
  ArrayMap<T>(gx, n) = T(3) * ConstArrayMap<T>(x, n).square() * ConstArrayMap<T>(gy, n);
}

#define DEEPDYN_MLP_KERNELS(T)                                                                         \
  template void product_few_inner<T>(const T*, int64_t, int64_t, const T*, int64_t, const T*, T*);   \
  template void product_few_columns<T>(const T*, int64_t, int64_t, const T*, int64_t, const T*, T*); \
  template void activate<T>(KernelActivation, T*, int64_t);                \
  template void multiply_slope<T>(KernelActivation, const T*, T*, int64_t); \
  template void cube_forward<T>(const T*, T*, int64_t);                    \
  template void cube_backward<T>(const T*, const T*, T*, int64_t);
DEEPDYN_MLP_KERNELS(float)
DEEPDYN_MLP_KERNELS(double)
#undef DEEPDYN_MLP_KERNELS

}  // namespace deepdyn::core::detail
