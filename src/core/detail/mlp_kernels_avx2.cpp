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

template <class T>
void cube_forward(const T* x, T* y, int64_t n) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).cube();
}

template <class T>
void cube_backward(const T* x, const T* gy, T* gx, int64_t n) {
  ArrayMap<T>(gx, n) = T(3) * ConstArrayMap<T>(x, n).square() * ConstArrayMap<T>(gy, n);
}

#define DEEPDYN_MLP_KERNELS(T)                                              \
  template void activate<T>(KernelActivation, T*, int64_t);                \
  template void multiply_slope<T>(KernelActivation, const T*, T*, int64_t); \
  template void cube_forward<T>(const T*, T*, int64_t);                    \
  template void cube_backward<T>(const T*, const T*, T*, int64_t);
DEEPDYN_MLP_KERNELS(float)
DEEPDYN_MLP_KERNELS(double)
#undef DEEPDYN_MLP_KERNELS

}  // namespace deepdyn::core::detail
