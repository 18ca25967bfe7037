#include "deepdyn/ode/script_field.h"

#include <fstream>
#include <sstream>

namespace deepdyn::ode {
namespace {

torch::jit::Module load(const std::string& path) {
  TORCH_CHECK(std::ifstream(path).good(), "cannot read the TorchScript field '", path,
              "': check the path (save one in Python with torch.jit.script(module).save(path))");
  try {
    return torch::jit::load(path);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "'", path, "' is not a TorchScript file that LibTorch ", TORCH_VERSION,
                " can load (save it with torch.jit.script(module).save(path)): ", e.what_without_backtrace());
  }
}

// forward(self, t: Tensor, y: Tensor) -> Tensor, or a clear refusal.
void check_signature(const torch::jit::Module& module, const std::string& origin) {
  auto method = module.find_method("forward");
  TORCH_CHECK(method.has_value(), origin, " has no forward method; a field needs forward(self, t, y) -> Tensor");
  const auto& schema = method->function().getSchema();
  const auto& args = schema.arguments();
  bool ok = args.size() == 3 && schema.returns().size() == 1 &&
            schema.returns()[0].type()->isSubtypeOf(*c10::TensorType::get());
  for (size_t i = 1; ok && i < args.size(); ++i) ok = args[i].type()->isSubtypeOf(*c10::TensorType::get());
  std::ostringstream found;
  found << schema;
  TORCH_CHECK(ok, origin, ": forward must be forward(self, t: Tensor, y: Tensor) -> Tensor (t a 0-d time, y the state), got ",
              found.str());
}

}  // namespace

std::string script_error_line(const std::exception& error) {
  const std::string text = error.what();
  const auto end = text.find_last_not_of(" \n");
  if (end == std::string::npos) return text;
  const auto start = text.rfind('\n', end);
  const auto first = start == std::string::npos ? 0 : start + 1;
  return text.substr(first, end + 1 - first);
}

ScriptField::ScriptField(const std::string& path) : ScriptField(load(path), "'" + path + "'") {}

ScriptField::ScriptField(torch::jit::Module module, const std::string& origin)
    : module_(std::move(module)), origin_(origin) {
  check_signature(module_, origin_);
}

torch::Tensor ScriptField::operator()(const torch::Tensor& t, const torch::Tensor& y) const {
  c10::IValue out;
  try {
    out = const_cast<torch::jit::Module&>(module_).forward({t, y});
  } catch (const std::exception& e) {
    TORCH_CHECK(false, origin_, ": forward(t, y) failed for a state y of shape ", y.sizes(), ": ",
                script_error_line(e));
  }
  TORCH_CHECK(out.isTensor(), origin_, ": forward returned a ", out.tagKind(), ", not a Tensor");
  return out.toTensor();
}

std::vector<torch::Tensor> ScriptField::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : module_.parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> ScriptField::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : module_.named_parameters()) out.emplace_back(p.name, p.value);
  return out;
}

Solution solve(const ScriptField& field, const torch::Tensor& y0, const torch::Tensor& ts,
               const SolveOptions& options) {
  Field f = field;
  if (options.params().has_value()) return solve(f, y0, ts, options);
  return solve(f, y0, ts, SolveOptions(options).params(field.parameters()));
}

namespace {

// The TorchScript line that applies `activation` to u. Softplus as LibTorch computes it (u past 20
// passes through); the clamps keep exp finite, so the branch not taken has no inf whose zero
// gradient would be NaN.
std::string activation_source(core::Activation activation) {
  switch (activation) {
    case core::Activation::Tanh:
      return "    u = torch.tanh(u)\n";
    case core::Activation::Softplus:
      return "    u = torch.where(u > 20.0, u, torch.log1p(torch.exp(torch.clamp(u, max=20.0))))\n";
    case core::Activation::Sigmoid:
      return "    u = torch.sigmoid(u)\n";
    case core::Activation::Elu:
      return "    u = torch.where(u > 0.0, u, torch.expm1(torch.clamp(u, max=0.0)))\n";
    case core::Activation::Identity:
      break;
  }
  return "";
}

}  // namespace

torch::jit::Module to_script(const MLPFieldImpl& field) {
  const auto& options = field.options();
  torch::jit::Module module("deepdyn.MLPField");
  module.register_buffer("shift", field.shift.detach().clone());
  module.register_buffer("scale", field.scale.detach().clone());
  std::ostringstream source;
  source << "def forward(self, t: Tensor, y: Tensor) -> Tensor:\n"
         << "    u = (y - self.shift) / self.scale\n";
  if (options.cube_input()) source << "    u = u * u * u\n";
  if (options.time_input())
    source << "    rows = u.size()[:-1] + [1]\n"
           << "    u = torch.cat([u, t.to(u.dtype).expand(rows)], -1)\n";
  const auto layers = field.layers->size();
  for (size_t i = 0; i < layers; ++i) {
    const auto& linear = field.layers->at<torch::nn::LinearImpl>(i);
    const auto index = std::to_string(i);
    module.register_parameter("weight_" + index, linear.weight.detach().clone(), false);
    module.register_parameter("bias_" + index, linear.bias.detach().clone(), false);
    source << "    u = torch.matmul(u, self.weight_" << index << ".t()) + self.bias_" << index << "\n";
    if (i + 1 == layers) break;
    source << activation_source(options.activation());
  }
  source << "    return self.scale * u\n";
  module.define(source.str());
  return module;
}

}  // namespace deepdyn::ode
