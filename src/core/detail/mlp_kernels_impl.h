// The definitions of core::mlp's kernels (mlp_kernels.h), built once per instruction set: each
// mlp_kernels_<isa>.cpp defines DEEPDYN_KERNEL_ISA and includes this file, compiled with that
// instruction set and without the precompiled LibTorch header (CMakeLists.txt), so that only
// Eigen's code is built for it.
#ifndef DEEPDYN_KERNEL_ISA
#error "define DEEPDYN_KERNEL_ISA (the namespace of this build of the kernels) before including mlp_kernels_impl.h"
#endif
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "core/detail/mlp_kernels.h"

namespace deepdyn::core::detail::DEEPDYN_KERNEL_ISA {
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
void multiply_curvature(KernelActivation activation, const T* output, T* gradient, int64_t n) {
  ConstArrayMap<T> y(output, n);
  ArrayMap<T> g(gradient, n);
  switch (activation) {
    case KernelActivation::Tanh:  // tanh'' = -2 tanh tanh'
      g *= T(-2) * y;
      return;
    case KernelActivation::Softplus:  // softplus'' / softplus' = 1 - sigmoid(x) = e^-y; 0 where linear
      g *= (y > T(kSoftplusThreshold)).select(T(0), (-y).exp());
      return;
    case KernelActivation::Sigmoid:  // sigmoid'' = sigmoid' (1 - 2 sigmoid)
      g *= T(1) - T(2) * y;
      return;
    case KernelActivation::Elu:  // elu'' = elu' = e^x below zero
      g *= (y <= T(0)).template cast<T>();
      return;
    case KernelActivation::Identity:
      g.setZero();
      return;
  }
}

namespace {

// Values per chunk of the stacked passes, which run every pass over one chunk before the next: the
// chunk stays in L1 between them.
constexpr int64_t kChunk = 1024;

}  // namespace

template <class T>
void stacked_activation_backward(KernelActivation activation, const T* y, const T* tangents, T* g_value, T* g_tangents,
                                 int64_t directions, int64_t n) {
  alignas(64) T curvature_chunk[kChunk];
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t len = std::min(kChunk, n - start);
    ArrayMap<T> curvature(curvature_chunk, len);
    curvature = ConstArrayMap<T>(g_tangents + start, len) * ConstArrayMap<T>(tangents + start, len);
    for (int64_t k = 1; k < directions; ++k)
      curvature += ConstArrayMap<T>(g_tangents + k * n + start, len) * ConstArrayMap<T>(tangents + k * n + start, len);
    DEEPDYN_KERNEL_ISA::multiply_curvature<T>(activation, y + start, curvature_chunk, len);
    for (int64_t k = 0; k < directions; ++k)
      DEEPDYN_KERNEL_ISA::multiply_slope<T>(activation, y + start, g_tangents + k * n + start, len);
    DEEPDYN_KERNEL_ISA::multiply_slope<T>(activation, y + start, g_value + start, len);
    ArrayMap<T>(g_value + start, len) += curvature;
  }
}

template <class T>
void activate_stacked(KernelActivation activation, const T* bias, T* stacked, int64_t rows, int64_t width,
                      int64_t directions) {
  const int64_t block = rows * width, chunk_rows = std::max<int64_t>(1, kChunk / width);
  for (int64_t first = 0; first < rows; first += chunk_rows) {
    const int64_t count = std::min(chunk_rows, rows - first), start = first * width, len = count * width;
    if (bias)
      for (int64_t r = first; r < first + count; ++r)
        ArrayMap<T>(stacked + r * width, width) += ConstArrayMap<T>(bias, width);
    DEEPDYN_KERNEL_ISA::activate<T>(activation, stacked + start, len);
    for (int64_t k = 1; k <= directions; ++k)
      DEEPDYN_KERNEL_ISA::multiply_slope<T>(activation, stacked + start, stacked + k * block + start, len);
  }
}

template <class T>
void add_column_sums(const T* g, int64_t rows, int64_t width, T* sums) {
  Eigen::Array<T, Eigen::Dynamic, 1> total = Eigen::Array<T, Eigen::Dynamic, 1>::Zero(width);
  for (int64_t r = 0; r < rows; ++r) total += ConstArrayMap<T>(g + r * width, width);
  ArrayMap<T>(sums, width) += total;
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

namespace {

constexpr int64_t kBlock = kNarrowBlock;  // a multiple of every vector width
constexpr int64_t kLanes = 8;             // partial sums per parameter gradient: an AVX2 float vector

// Buffers aligned for Eigen's packets. Eigen computes the elements before the first aligned
// address with its scalar functions, which round differently: an unaligned buffer would make
// the same activation give other bits from call to call.
template <class T>
using Buffer = std::vector<T, Eigen::aligned_allocator<T>>;
// The same alignment, left uninitialised: for buffers every value of which is written before it is read.
template <class T>
using Scratch = Eigen::Array<T, Eigen::Dynamic, 1>;

// One unit's values over a block's rows: the sums below run in these (registers, Eigen's
// fixed-size packets), read and written once per unit; summed in memory, every term was a load
// and a store waiting on the one before.
template <class T>
using Column = Eigen::Array<T, kBlock, 1>;
template <class T>
using ColumnMap = Eigen::Map<Column<T>>;
template <class T>
using ConstColumnMap = Eigen::Map<const Column<T>>;

/// One block of a narrow network's rows, transposed (rows in the vector lanes), in buffers that
/// stay in L1 across the blocks: the input ut [in][kBlock], and from it the hidden layer
/// [width][kBlock].
template <class T>
class NarrowBlock {
 public:
  explicit NarrowBlock(const NarrowNet<T>& net) : net_(net), ut_(net.in * kBlock), xt_(net.in * kBlock) {}

  /// Loads rows [0, n) of x [n, in] (the rest of the block zero) and the input u = x or x^3.
  void load(const T* x, int64_t n) {
    const int64_t in = net_.in;
    if (n < kBlock) xt_.setZero();
    for (int64_t r = 0; r < n; ++r)
      for (int64_t k = 0; k < in; ++k) xt_[k * kBlock + r] = x[r * in + k];
    for (int64_t i = 0; i < in * kBlock; ++i) ut_[i] = net_.cube ? xt_[i] * xt_[i] * xt_[i] : xt_[i];
  }

  /// The hidden layer a = act(w1 u + b1) into a [width][kBlock]: per unit the bias and the
  /// products in input order, as product_few_inner sums them.
  void hidden(T* a) const {
    const int64_t in = net_.in;
    for (int64_t j = 0; j < net_.width; ++j) {
      Column<T> sum = Column<T>::Constant(net_.b1[j]);
      for (int64_t k = 0; k < in; ++k) sum += net_.w1[j * in + k] * ConstColumnMap<T>(ut_.data() + k * kBlock);
      ColumnMap<T>(a + j * kBlock) = sum;
    }
    // Qualified: argument-dependent lookup would also find the dispatching detail::activate.
    DEEPDYN_KERNEL_ISA::activate<T>(net_.activation, a, net_.width * kBlock);
  }

  const T* input() const { return ut_.data(); }
  const T* raw_input() const { return xt_.data(); }

 private:
  const NarrowNet<T>& net_;
  Scratch<T> ut_, xt_;
};

/// o [out][kBlock] = w2 a + b2 for the block's hidden layer a [width][kBlock].
template <class T>
void narrow_output(const NarrowNet<T>& net, const T* a, T* o) {
  for (int64_t c = 0; c < net.out; ++c) {
    Column<T> sum = Column<T>::Constant(net.b2[c]);
    for (int64_t j = 0; j < net.width; ++j) sum += net.w2[c * net.width + j] * ConstColumnMap<T>(a + j * kBlock);
    ColumnMap<T>(o + c * kBlock) = sum;
  }
}

/// acc[l] += sum over the block's rows r = l (mod kLanes) of u[r] v[r] (v null: of u[r]), in
/// registers (Eigen's fixed-size packets).
template <class T>
void add_lane_products(const T* u, const T* v, T* acc) {
  using Lanes = Eigen::Array<T, kLanes, 1>;
  Lanes sum = Lanes::Zero();
  if (v)
    for (int64_t r = 0; r < kBlock; r += kLanes) sum += Eigen::Map<const Lanes>(u + r) * Eigen::Map<const Lanes>(v + r);
  else
    for (int64_t r = 0; r < kBlock; r += kLanes) sum += Eigen::Map<const Lanes>(u + r);
  Eigen::Map<Lanes>(acc) += sum;
}

/// gradient[i] += the sum of lanes[i][0..kLanes) for i < n.
template <class T>
void add_lane_sums(const Buffer<T>& lanes, T* gradient, int64_t n) {
  if (!gradient) return;
  for (int64_t i = 0; i < n; ++i) {
    T sum = 0;
    for (int64_t l = 0; l < kLanes; ++l) sum += lanes[i * kLanes + l];
    gradient[i] += sum;
  }
}

}  // namespace

template <class T>
void narrow_forward(const NarrowNet<T>& net, const T* x, int64_t rows, T* out, T* hidden) {
  NarrowBlock<T> block(net);
  Scratch<T> o(net.out * kBlock), own(hidden ? 0 : net.width * kBlock);
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t n = std::min(kBlock, rows - r0);
    T* a = hidden ? hidden + r0 * net.width : own.data();
    block.load(x + r0 * net.in, n);
    block.hidden(a);
    narrow_output(net, a, o.data());
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < net.out; ++c) out[(r0 + r) * net.out + c] = o[c * kBlock + r];
  }
}

template <class T>
void narrow_backward(const NarrowNet<T>& net, const T* x, const T* hidden, const T* g, int64_t rows, T* gx, T* gw1,
                     T* gb1, T* gw2, T* gb2) {
  const int64_t in = net.in, width = net.width, out = net.out;
  NarrowBlock<T> block(net);
  Scratch<T> gt(out * kBlock), gh(width * kBlock), gu(in * kBlock), own(hidden ? 0 : width * kBlock);
  // Per-lane partial sums of the parameters' gradients over all rows, added up once at the end.
  Buffer<T> lanes_w1(width * in * kLanes), lanes_b1(width * kLanes), lanes_w2(out * width * kLanes),
      lanes_b2(out * kLanes);
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    const int64_t n = std::min(kBlock, rows - r0);
    block.load(x + r0 * in, n);
    const T* a = hidden ? hidden + r0 * width : own.data();
    if (!hidden) block.hidden(own.data());
    if (n < kBlock) gt.setZero();  // rows past n contribute nothing
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < out; ++c) gt[c * kBlock + r] = g[(r0 + r) * out + c];
    // Output layer: gb2 += sum g, gw2 += g a^T; then the hidden layer's gradient w2^T g, times act'.
    for (int64_t c = 0; c < out; ++c) {
      const T* gc = gt.data() + c * kBlock;
      add_lane_products<T>(gc, nullptr, lanes_b2.data() + c * kLanes);
      for (int64_t j = 0; j < width; ++j)
        add_lane_products<T>(gc, a + j * kBlock, lanes_w2.data() + (c * width + j) * kLanes);
    }
    for (int64_t j = 0; j < width; ++j) {
      Column<T> sum = Column<T>::Zero();
      for (int64_t c = 0; c < out; ++c) sum += net.w2[c * width + j] * ConstColumnMap<T>(gt.data() + c * kBlock);
      ColumnMap<T>(gh.data() + j * kBlock) = sum;
    }
    DEEPDYN_KERNEL_ISA::multiply_slope<T>(net.activation, a, gh.data(), width * kBlock);
    // Hidden layer: gb1 += sum gh, gw1 += gh u^T, and the input's gradient w1^T gh.
    for (int64_t j = 0; j < width; ++j) {
      const T* ghj = gh.data() + j * kBlock;
      add_lane_products<T>(ghj, nullptr, lanes_b1.data() + j * kLanes);
      for (int64_t k = 0; k < in; ++k)
        add_lane_products<T>(ghj, block.input() + k * kBlock, lanes_w1.data() + (j * in + k) * kLanes);
    }
    for (int64_t k = 0; k < in; ++k) {
      Column<T> sum = Column<T>::Zero();
      for (int64_t j = 0; j < width; ++j) sum += net.w1[j * in + k] * ConstColumnMap<T>(gh.data() + j * kBlock);
      ColumnMap<T>(gu.data() + k * kBlock) = sum;
    }
    if (gx)
      for (int64_t r = 0; r < n; ++r)
        for (int64_t k = 0; k < in; ++k) {
          const T xk = block.raw_input()[k * kBlock + r], gk = gu[k * kBlock + r];
          gx[(r0 + r) * in + k] = net.cube ? T(3) * xk * xk * gk : gk;
        }
  }
  add_lane_sums(lanes_w1, gw1, width * in);
  add_lane_sums(lanes_b1, gb1, width);
  add_lane_sums(lanes_w2, gw2, out * width);
  add_lane_sums(lanes_b2, gb2, out);
}

template <class T>
void cube_forward(const T* x, T* y, int64_t n) {
  ArrayMap<T>(y, n) = ConstArrayMap<T>(x, n).cube();
}

template <class T>
void cube_backward(const T* x, const T* gy, T* gx, int64_t n) {
  ArrayMap<T>(gx, n) = T(3) * ConstArrayMap<T>(x, n).square() * ConstArrayMap<T>(gy, n);
}

#define DEEPDYN_MLP_KERNELS(T)                                                                                  \
  template void product_few_inner<T>(const T*, int64_t, int64_t, const T*, int64_t, const T*, T*);              \
  template void product_few_columns<T>(const T*, int64_t, int64_t, const T*, int64_t, const T*, T*);            \
  template void activate<T>(KernelActivation, T*, int64_t);                                                     \
  template void multiply_slope<T>(KernelActivation, const T*, T*, int64_t);                                     \
  template void stacked_activation_backward<T>(KernelActivation, const T*, const T*, T*, T*, int64_t, int64_t); \
  template void activate_stacked<T>(KernelActivation, const T*, T*, int64_t, int64_t, int64_t);                 \
  template void add_column_sums<T>(const T*, int64_t, int64_t, T*);                                             \
  template void cube_forward<T>(const T*, T*, int64_t);                                                         \
  template void cube_backward<T>(const T*, const T*, T*, int64_t);                                              \
  template void narrow_forward<T>(const NarrowNet<T>&, const T*, int64_t, T*, T*);                              \
  template void narrow_backward<T>(const NarrowNet<T>&, const T*, const T*, const T*, int64_t, T*, T*, T*, T*, T*);
DEEPDYN_MLP_KERNELS(float)
DEEPDYN_MLP_KERNELS(double)
#undef DEEPDYN_MLP_KERNELS

}  // namespace deepdyn::core::detail::DEEPDYN_KERNEL_ISA
