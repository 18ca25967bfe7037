#include "deepdyn/cnf/cnf.h"

#include <ATen/Dispatch.h>
#include <ATen/EmptyTensor.h>

#include <algorithm>
#include <cmath>

#include "deepdyn/core/memory.h"

namespace deepdyn::cnf {

ConcatSquashLinearImpl::ConcatSquashLinearImpl(int64_t in, int64_t out) {
  layer = register_module("layer", torch::nn::Linear(in, out));
  hyper_gate = register_module("hyper_gate", torch::nn::Linear(1, out));
  hyper_bias = register_module("hyper_bias", torch::nn::Linear(torch::nn::LinearOptions(1, out).bias(false)));
}

torch::Tensor ConcatSquashLinearImpl::forward(const torch::Tensor& t, const torch::Tensor& x) {
  auto time = t.reshape({1, 1}).to(x.dtype());
  return layer(x) * torch::sigmoid(hyper_gate(time)) + hyper_bias(time);
}

ODENetImpl::ODENetImpl(int64_t dim, const std::vector<int64_t>& hidden, Activation activation)
    : activation(activation) {
  std::vector<int64_t> widths = {dim};
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  widths.push_back(dim);
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    layers.push_back(register_module("layer" + std::to_string(i), ConcatSquashLinear(widths[i], widths[i + 1])));
  }
  torch::NoGradGuard no_grad;
  auto& last = layers.back();
  for (auto& p : last->parameters()) p.zero_();
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// Every concat-squash layer at one time t as the affine map it is there:
///   s = sigmoid(g t + c),   W_t = diag(s) W,   b_t = s * b + h t
/// with W, b the layer's, g, c hyper_gate's weight and bias and h hyper_bias's weight; `params`
/// holds per layer W, b, g, c, h (parameters()' order). Returns every W_t, then every b_t.
constexpr size_t kPerLayer = 5;

torch::Tensor gate_at(const torch::Tensor& t, torch::TensorList params, size_t layer) {
  return torch::sigmoid(torch::addcmul(params[kPerLayer * layer + 3], params[kPerLayer * layer + 2].view(-1), t));
}

/// Whether the at-time layers are computed by the loops below: t and the parameters are CPU
/// tensors of one floating dtype, the parameters contiguous. Per layer the LibTorch operations
/// cost a dispatch each on vectors of the layer's width: more than the arithmetic, in every
/// evaluation of the field.
bool at_time_by_loops(const torch::Tensor& t, torch::TensorList params) {
  const auto dtype = t.scalar_type();
  if (!t.device().is_cpu() || !(dtype == at::kFloat || dtype == at::kDouble)) return false;
  return std::all_of(params.begin(), params.end(), [&](const torch::Tensor& p) {
    return p.device().is_cpu() && p.scalar_type() == dtype && p.is_contiguous();
  });
}

template <class T>
T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <class T>
std::vector<torch::Tensor> layers_at_time_by_loops(T t, torch::TensorList params) {
  const size_t n = params.size() / kPerLayer;
  std::vector<torch::Tensor> weights, biases;
  for (size_t i = 0; i < n; ++i) {
    const auto& w = params[kPerLayer * i];
    const int64_t out = w.size(0), in = w.size(1);
    torch::Tensor w_t = at::detail::empty_cpu(w.sizes(), w.scalar_type());
    torch::Tensor b_t = at::detail::empty_cpu({out}, w.scalar_type());
    const T *W = w.data_ptr<T>(), *b = params[kPerLayer * i + 1].data_ptr<T>(),
            *g = params[kPerLayer * i + 2].data_ptr<T>(), *c = params[kPerLayer * i + 3].data_ptr<T>(),
            *h = params[kPerLayer * i + 4].data_ptr<T>();
    T *Wt = w_t.data_ptr<T>(), *bt = b_t.data_ptr<T>();
    for (int64_t j = 0; j < out; ++j) {
      const T gate = sigmoid(c[j] + g[j] * t);
      for (int64_t k = 0; k < in; ++k) Wt[j * in + k] = W[j * in + k] * gate;
      bt[j] = b[j] * gate + h[j] * t;
    }
    weights.push_back(w_t);
    biases.push_back(b_t);
  }
  weights.insert(weights.end(), biases.begin(), biases.end());
  return weights;
}

std::vector<torch::Tensor> layers_at_time(const torch::Tensor& t, torch::TensorList params) {
  if (at_time_by_loops(t, params))
    return AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "layers_at_time",
                                      [&] { return layers_at_time_by_loops<scalar_t>(t.item<scalar_t>(), params); });
  const size_t n = params.size() / kPerLayer;
  std::vector<torch::Tensor> weights, biases;
  for (size_t i = 0; i < n; ++i) {
    const auto gate = gate_at(t, params, i);
    weights.push_back(params[kPerLayer * i] * gate.unsqueeze(1));
    biases.push_back(torch::addcmul(params[kPerLayer * i + 4].view(-1) * t, params[kPerLayer * i + 1], gate));
  }
  weights.insert(weights.end(), biases.begin(), biases.end());
  return weights;
}

/// layers_at_time's vector-Jacobian product by the loops, added into `grads` (t's first, then
/// every parameter's; an undefined one is not wanted) from the cotangents of every W_t then every
/// b_t (undefined: zero). The math of layers_at_time_backward's.
template <class T>
void add_layers_at_time_gradients_by_loops(T t, torch::TensorList params,
                                           const std::vector<torch::Tensor>& grad_outputs,
                                           const std::vector<torch::Tensor>& grads) {
  const size_t n = params.size() / kPerLayer;
  T t_grad = 0;
  auto data = [&](size_t i) { return grads[i].defined() ? grads[i].data_ptr<T>() : nullptr; };
  for (size_t i = 0; i < n; ++i) {
    const auto& w = params[kPerLayer * i];
    const int64_t out = w.size(0), in = w.size(1);
    const auto &w_bar = grad_outputs[i], &b_bar = grad_outputs[n + i];
    if (!w_bar.defined() && !b_bar.defined()) continue;
    const auto W_bar = w_bar.defined() ? w_bar.contiguous() : w_bar,
               B_bar = b_bar.defined() ? b_bar.contiguous() : b_bar;
    const T *W = w.data_ptr<T>(), *b = params[kPerLayer * i + 1].data_ptr<T>(),
            *g = params[kPerLayer * i + 2].data_ptr<T>(), *c = params[kPerLayer * i + 3].data_ptr<T>(),
            *h = params[kPerLayer * i + 4].data_ptr<T>();
    const T* Wb = W_bar.defined() ? W_bar.data_ptr<T>() : nullptr;
    const T* bb = B_bar.defined() ? B_bar.data_ptr<T>() : nullptr;
    T *dW = data(1 + kPerLayer * i), *db = data(2 + kPerLayer * i), *dg = data(3 + kPerLayer * i),
      *dc = data(4 + kPerLayer * i), *dh = data(5 + kPerLayer * i);
    for (int64_t j = 0; j < out; ++j) {
      const T gate = sigmoid(c[j] + g[j] * t), b_cot = bb ? bb[j] : T(0);
      // d/ds of sum W_bar * diag(s) W + b_bar . (s * b), through sigmoid's slope s (1 - s).
      T dot = b_cot * b[j];
      for (int64_t k = 0; Wb && k < in; ++k) dot += Wb[j * in + k] * W[j * in + k];
      const T pre = dot * gate * (1 - gate);
      for (int64_t k = 0; dW && Wb && k < in; ++k) dW[j * in + k] += Wb[j * in + k] * gate;
      if (db) db[j] += b_cot * gate;
      if (dg) dg[j] += pre * t;
      if (dc) dc[j] += pre;
      if (dh) dh[j] += b_cot * t;
      t_grad += pre * g[j] + b_cot * h[j];
    }
  }
  if (grads[0].defined()) grads[0].add_(t_grad);
}

/// layers_at_time's vector-Jacobian product: from the cotangents of every W_t then every b_t
/// (undefined: zero), the cotangents of t then of every parameter. Recorded by autograd (grad
/// mode on: a backward differentiated again), s is recomputed from the inputs with differentiable
/// operations.
std::vector<torch::Tensor> layers_at_time_backward(const torch::Tensor& t, torch::TensorList params,
                                                   const std::vector<torch::Tensor>& grad_outputs) {
  const size_t n = params.size() / kPerLayer;
  std::vector<torch::Tensor> grads(1 + params.size());
  if (!torch::GradMode::is_enabled() && at_time_by_loops(t, params)) {
    grads[0] = core::new_zeros_like(t);
    for (size_t i = 0; i < params.size(); ++i) grads[1 + i] = core::new_zeros_like(params[i]);
    AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "layers_at_time_backward", [&] {
      add_layers_at_time_gradients_by_loops<scalar_t>(t.item<scalar_t>(), params, grad_outputs, grads);
    });
    return grads;
  }
  torch::Tensor t_grad = torch::zeros_like(t);
  for (size_t i = 0; i < n; ++i) {
    const auto &w = params[kPerLayer * i], &b = params[kPerLayer * i + 1], &g = params[kPerLayer * i + 2],
               &h = params[kPerLayer * i + 4];
    auto w_grad = grad_outputs[i], b_grad = grad_outputs[n + i];
    if (!w_grad.defined() && !b_grad.defined()) continue;
    if (!w_grad.defined()) w_grad = torch::zeros_like(w);
    if (!b_grad.defined()) b_grad = torch::zeros_like(b);
    const auto gate = gate_at(t, params, i);
    // d/ds of sum W_bar * diag(s) W + b_bar . (s * b), through sigmoid's slope s (1 - s).
    const auto pre_grad = ((w_grad * w).sum(1) + b_grad * b) * gate * (1 - gate);
    auto* out = &grads[1 + kPerLayer * i];
    out[0] = w_grad * gate.unsqueeze(1);
    out[1] = b_grad * gate;
    out[2] = (pre_grad * t).unsqueeze(1);
    out[3] = pre_grad;
    out[4] = (b_grad * t).unsqueeze(1);
    t_grad = t_grad + (pre_grad * g.view(-1)).sum() + (b_grad * h.view(-1)).sum();
  }
  grads[0] = t_grad;
  return grads;
}

/// layers_at_time as one autograd node (per layer a handful of operations on vectors, which cost
/// more as autograd records than as arithmetic). Inputs: t (0-d) and the parameters.
class ConcatSquashAtTime : public torch::autograd::Function<ConcatSquashAtTime> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& t, torch::TensorList params) {
    variable_list saved = {t};
    saved.insert(saved.end(), params.begin(), params.end());
    ctx->save_for_backward(saved);
    return layers_at_time(t, params);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    return layers_at_time_backward(saved[0], torch::TensorList(saved.data() + 1, saved.size() - 1), grad_outputs);
  }
};

/// The parameters layers_at_time takes, per layer W, b, g, c, h.
std::vector<torch::Tensor> concat_squash_parameters(const std::vector<ConcatSquashLinear>& layers) {
  std::vector<torch::Tensor> params;
  for (const auto& layer : layers)
    for (const auto* linear : {&layer->layer, &layer->hyper_gate, &layer->hyper_bias}) {
      params.push_back((*linear)->weight);
      if ((*linear)->bias.defined()) params.push_back((*linear)->bias);
    }
  return params;
}

/// One time for the whole batch, as a 0-d tensor of the parameters' dtype.
torch::Tensor batch_time(const torch::Tensor& t, const torch::Tensor& like) {
  TORCH_CHECK(t.numel() == 1, "the CNF field takes one time for the whole batch, got shape ", t.sizes());
  return t.reshape({}).to(like.dtype());
}

/// The net's layers at time t as core::mlp's weights and biases.
std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> affine_layers(
    const std::vector<ConcatSquashLinear>& layers, const torch::Tensor& t) {
  const auto params = concat_squash_parameters(layers);
  // TensorList, not std::vector: autograd tracks a list argument's tensors only as a TensorList.
  const auto affine = ConcatSquashAtTime::apply(batch_time(t, params.front()), torch::TensorList(params));
  const auto n = static_cast<std::ptrdiff_t>(layers.size());
  return {{affine.begin(), affine.begin() + n}, {affine.begin() + n, affine.end()}};
}

}  // namespace

torch::Tensor ODENetImpl::forward(const torch::Tensor& t, const torch::Tensor& z) {
  const auto [weights, biases] = affine_layers(layers, t);
  return core::mlp(z, weights, biases, activation);
}

core::MLPDivergence ODENetImpl::divergence(const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& probe) {
  const auto [weights, biases] = affine_layers(layers, t);
  return core::mlp_divergence(z, weights, biases, activation, core::MLPInput::Identity, probe);
}

DivergenceVJP ODENetImpl::divergence_vjp(const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& probe,
                                         const torch::Tensor& v, const torch::Tensor& w,
                                         const std::vector<torch::Tensor>& param_grads, bool with_value) {
  torch::NoGradGuard no_grad;
  const auto params = concat_squash_parameters(layers);
  const auto time = batch_time(t, params.front());
  const auto affine = layers_at_time(time, params);
  const auto n = static_cast<std::ptrdiff_t>(layers.size());
  const std::vector<torch::Tensor> weights(affine.begin(), affine.begin() + n),
      biases(affine.begin() + n, affine.end());
  // The at-time layers' cotangents first, then the parameters' and t's through layers_at_time.
  std::vector<torch::Tensor> affine_grads;
  for (const auto& a : affine) affine_grads.push_back(core::new_zeros_like(a));
  DivergenceVJP out;
  out.z = core::mlp_divergence_vjp(z, weights, biases, activation, core::MLPInput::Identity, probe, {v, w, {}},
                                   {affine_grads.begin(), affine_grads.begin() + n},
                                   {affine_grads.begin() + n, affine_grads.end()}, with_value ? &out.value : nullptr);
  const bool accumulate_by_loops =
      at_time_by_loops(time, params) &&
      std::all_of(param_grads.begin(), param_grads.end(), [&](const torch::Tensor& g) {
        return !g.defined() || (g.device().is_cpu() && g.scalar_type() == time.scalar_type() && g.is_contiguous());
      });
  if (accumulate_by_loops) {  // straight into param_grads
    std::vector<torch::Tensor> grads = {core::new_zeros_like(time)};
    grads.insert(grads.end(), param_grads.begin(), param_grads.end());
    grads.resize(1 + params.size());
    AT_DISPATCH_FLOATING_TYPES(time.scalar_type(), "divergence_vjp", [&] {
      add_layers_at_time_gradients_by_loops<scalar_t>(time.item<scalar_t>(), params, affine_grads, grads);
    });
    out.t = grads[0];
    return out;
  }
  const auto grads = layers_at_time_backward(time, params, affine_grads);
  out.t = grads[0];
  for (size_t i = 0; i < param_grads.size() && i + 1 < grads.size(); ++i)
    if (param_grads[i].defined()) param_grads[i].add_(grads[1 + i]);
  return out;
}

DivergenceField divergence_field(ODENet net) {
  DivergenceField field;
  field.evaluate = [net](const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& probe) mutable {
    return net->divergence(t, z, probe);
  };
  field.vjp = [net](const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& probe, const torch::Tensor& v,
                    const torch::Tensor& w, const std::vector<torch::Tensor>& param_grads, bool with_value) mutable {
    return net->divergence_vjp(t, z, probe, v, w, param_grads, with_value);
  };
  field.parameters = net->parameters();
  return field;
}

void CNFOptions::validate() const {
  TORCH_CHECK(dim() >= 1, "CNF dim must be >= 1, got ", dim());
  TORCH_CHECK(blocks() >= 1, "CNF blocks must be >= 1, got ", blocks());
  TORCH_CHECK(end_time() > 0, "CNF end_time must be > 0, got ", end_time());
  for (auto width : hidden()) TORCH_CHECK(width >= 1, "CNF hidden widths must be >= 1, got ", width);
  if (regularize()) {
    regularize()->validate();
    // For a fixed transport the kinetic energy falls like 1/T: with T trained, the regularizer is
    // lowered by stretching time instead of straightening paths (RNODE fixes T = 1).
    TORCH_CHECK(regularize()->kinetic() == 0 || !learn_end_time(),
                "RNODE's kinetic regularizer needs a fixed end time: a learnable T lowers it by growing, not by "
                "straightening the flow; set learn_end_time(false) (RNODE uses end_time 1)");
  }
}

CNFImpl::CNFImpl(CNFOptions options) : options_(std::move(options)) {
  options_.validate();
  for (int64_t k = 0; k < options_.blocks(); ++k) {
    const auto name = std::to_string(k);
    blocks.push_back(register_module("block" + name, ODENet(options_.dim(), options_.hidden(), options_.activation())));
    auto s = torch::tensor(std::sqrt(options_.end_time()), torch::kFloat32);
    sqrt_end_times_.push_back(options_.learn_end_time() ? register_parameter("sqrt_end_time" + name, s)
                                                        : register_buffer("sqrt_end_time" + name, s));
  }
}

torch::Tensor CNFImpl::end_time(size_t block) const { return sqrt_end_times_.at(block).pow(2); }

torch::Tensor CNFImpl::times(size_t block, bool reverse) const {
  auto zero = torch::zeros({1}, sqrt_end_times_[block].options());
  auto end = end_time(block).reshape({1});
  return reverse ? torch::cat({end, zero}) : torch::cat({zero, end});
}

ode::SolveOptions CNFImpl::block_solver(size_t block) const {
  return ode::SolveOptions(options_.solver()).params(blocks[block]->parameters());
}

void CNFImpl::check_data(const torch::Tensor& x) const {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options_.dim(), "CNF expects [batch, ", options_.dim(), "] points, got ",
              x.sizes());
}

CNFOutput CNFImpl::push_forward(const torch::Tensor& x, const FlowOptions& flow) {
  check_data(x);
  CNFOutput out;
  auto z = x;
  auto delta_logp = torch::zeros({x.size(0)}, x.options());
  if (flow.regularize()) out.kinetic = out.jacobian = torch::zeros_like(delta_logp);
  for (size_t k = 0; k < blocks.size(); ++k) {
    auto r = integrate_flow(divergence_field(blocks[k]), z, times(k, false).to(x.dtype()),
                            FlowOptions(flow).solver(block_solver(k)));
    z = r.z;
    delta_logp = delta_logp + r.delta_logp;
    if (flow.regularize()) {
      out.kinetic = out.kinetic + r.kinetic;
      out.jacobian = out.jacobian + r.jacobian;
    }
    out.block_stats.push_back(r.stats);
  }
  out.log_prob = standard_normal_log_density(z) - delta_logp;
  return out;
}

CNFOutput CNFImpl::forward(const torch::Tensor& x) {
  const auto& weights = options_.regularize();
  auto out =
      push_forward(x, FlowOptions().trace(options_.trace()).noise(options_.noise()).regularize(weights.has_value()));
  out.penalty = weights ? reg::penalty(*weights, out.kinetic, out.jacobian) : torch::zeros({}, x.options());
  return out;
}

torch::Tensor CNFImpl::log_prob(const torch::Tensor& x, TraceEstimator trace) {
  return push_forward(x, FlowOptions().trace(trace).noise(options_.noise())).log_prob;
}

torch::Tensor CNFImpl::generate(const torch::Tensor& z) {
  check_data(z);
  auto x = z;
  for (size_t k = blocks.size(); k-- > 0;) {
    auto ts = times(k, true).to(z.dtype());
    x = ode::solve(blocks[k], x, ts, block_solver(k)).ys[1];
  }
  return x;
}

torch::Tensor CNFImpl::sample(int64_t n) {
  TORCH_CHECK(n >= 1, "CNF sample needs n >= 1, got ", n);
  auto reference = blocks.front()->parameters().front();
  return generate(torch::randn({n, options_.dim()}, reference.options().requires_grad(false)));
}

}  // namespace deepdyn::cnf
