#pragma once
// A vector field saved as TorchScript (for example by torch.jit.script(module).save(path) in
// Python), whose forward(t, y) returns dy/dt: a model trained in Python, deployed and
// fine-tuned in C++. Kept out of the umbrella header: it pulls in LibTorch's JIT headers.
#include <torch/script.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "deepdyn/ode/mlp_field.h"
#include "deepdyn/ode/options.h"
#include "deepdyn/ode/solution.h"
#include "deepdyn/ode/solve.h"

namespace deepdyn::ode {

class ScriptField {
 public:
  /// Loads the module; a missing or unreadable file, or a forward that does not take two tensors
  /// (t, y) and return one, is refused with a message naming the file and what was found.
  explicit ScriptField(const std::string& path);
  /// Wraps a loaded module (shared: copies of a ScriptField and the module see one set of weights).
  explicit ScriptField(torch::jit::Module module, const std::string& origin = "TorchScript module");
  torch::Tensor operator()(const torch::Tensor& t, const torch::Tensor& y) const;
  /// The module's parameters: what Adjoint gradients differentiate and an optimizer fine-tunes.
  std::vector<torch::Tensor> parameters() const;
  /// Parameters by their dotted names ("net.0.weight", ...).
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  torch::jit::Module& module() { return module_; }

 private:
  torch::jit::Module module_;
  std::string origin_;
};

/// What a TorchScript forward's exception says failed: the last line of the interpreter's message
/// (the rest is its traceback).
std::string script_error_line(const std::exception& error);

/// solve() on a TorchScript field: Adjoint and Checkpointed gradients differentiate the module's
/// parameters unless SolveOptions::params names others.
Solution solve(const ScriptField& field, const torch::Tensor& y0, const torch::Tensor& ts,
               const SolveOptions& options = SolveOptions());

/// `field` as a TorchScript module with the same forward(t, y) and copies of its weights and
/// standardisation: a trained field for torch.jit.load in Python, for ScriptField and for
/// `deepdyn solve`.
torch::jit::Module to_script(const MLPFieldImpl& field);

}  // namespace deepdyn::ode
