#include "deepdyn/cnf/cnf.h"

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

std::pair<torch::Tensor, torch::Tensor> ConcatSquashLinearImpl::at_time(const torch::Tensor& t) {
  const auto time = t.reshape({1, 1}).to(layer->weight.dtype());
  const auto gate = torch::sigmoid(hyper_gate(time)).reshape({-1});
  return {layer->weight * gate.unsqueeze(1), layer->bias * gate + hyper_bias(time).reshape({-1})};
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

/// The net's layers at time t as core::mlp's weights and biases.
std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> affine_layers(
    const std::vector<ConcatSquashLinear>& layers, const torch::Tensor& t) {
  TORCH_CHECK(t.numel() == 1, "the CNF field takes one time for the whole batch, got shape ", t.sizes());
  std::pair<std::vector<torch::Tensor>, std::vector<torch::Tensor>> out;
  for (auto layer : layers) {  // (a holder's copy shares the layer; its -> is not const)
    auto [weight, bias] = layer->at_time(t);
    out.first.push_back(weight);
    out.second.push_back(bias);
  }
  return out;
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
    const DivergenceField field{
        [net = blocks[k]](const torch::Tensor& t, const torch::Tensor& state, const torch::Tensor& probe) mutable {
          return net->divergence(t, state, probe);
        }};
    auto r = integrate_flow(field, z, times(k, false).to(x.dtype()), FlowOptions(flow).solver(block_solver(k)));
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
