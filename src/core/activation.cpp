#include "deepdyn/core/activation.h"

#include "core/detail/cpu_features.h"
#include "core/detail/tanh_kernel.h"
#include "deepdyn/core/names.h"

namespace deepdyn::core {
namespace {

bool has_fast_tanh(const torch::Tensor& x) {
  return detail::cpu_has_avx2_fma() && x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.layout() == torch::kStrided;
}

torch::Tensor fast_tanh_values(const torch::Tensor& x) {
  auto in = x.contiguous();
  auto out = torch::empty_like(in, at::MemoryFormat::Contiguous);
  detail::tanh_float_avx2(in.data_ptr<float>(), out.data_ptr<float>(), in.numel());
  return out;
}

// d tanh(x) = (1 - tanh(x)^2) dx, from the saved output; at::tanh_backward is itself
// differentiable, so Hutchinson's and the exact trace's double backward pass through it.
struct FastTanh : torch::autograd::Function<FastTanh> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context, const torch::Tensor& x) {
    auto y = fast_tanh_values(x);
    context->save_for_backward({y});
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list grad) {
    return {at::tanh_backward(grad[0], context->get_saved_variables()[0])};
  }
};

const NameTable<Activation>& activations() {
  static const NameTable<Activation> table("activation", {{"tanh", Activation::Tanh},
                                                          {"softplus", Activation::Softplus},
                                                          {"sigmoid", Activation::Sigmoid},
                                                          {"elu", Activation::Elu},
                                                          {"identity", Activation::Identity}});
  return table;
}

}  // namespace

const std::vector<std::string>& activation_names() { return activations().names(); }

const std::string& activation_name(Activation activation) { return activations().name_of(activation); }

Activation parse_activation(const std::string& name) { return activations().parse(name); }

torch::Tensor tanh(const torch::Tensor& x) {
  if (!has_fast_tanh(x)) return torch::tanh(x);
  if (torch::GradMode::is_enabled() && x.requires_grad()) return FastTanh::apply(x);
  return fast_tanh_values(x);
}

torch::nn::Functional tanh_layer() {
  return torch::nn::Functional([](const torch::Tensor& x) { return core::tanh(x); });
}

torch::Tensor activate(Activation activation, const torch::Tensor& x) {
  switch (activation) {
    case Activation::Tanh:
      return core::tanh(x);
    case Activation::Softplus:
      return torch::softplus(x);
    case Activation::Sigmoid:
      return torch::sigmoid(x);
    case Activation::Elu:
      return torch::elu(x);
    case Activation::Identity:
      break;
  }
  return x;
}

torch::Tensor activation_slope(Activation activation, const torch::Tensor& x) {
  switch (activation) {
    case Activation::Tanh:
      return 1 - core::tanh(x).square();
    case Activation::Softplus:  // d/dx log(1 + e^x), and 1 past LibTorch's threshold of 20
      return torch::where(x > 20, torch::ones_like(x), torch::sigmoid(x));
    case Activation::Sigmoid: {
      const auto s = torch::sigmoid(x);
      return s * (1 - s);
    }
    case Activation::Elu:
      return torch::where(x > 0, torch::ones_like(x), torch::exp(x));
    case Activation::Identity:
      break;
  }
  return torch::ones_like(x);
}

}  // namespace deepdyn::core
