#pragma once
// Functions handed over from Python (an ODE field func(t, y), a DEQ map f(z, x), a fixed-point map
// f(z)) as C++ callables on torch.Tensors. The tensors are the same objects on both sides (one tensor
// type, one autograd engine), so gradients flow between the C++ solvers and the caller's graph.
#include <pybind11/pybind11.h>
#include <torch/extension.h>
#include <torch/script.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace deepdyn::python {

namespace py = pybind11;

/// Set by an atexit hook: from then on no Python object may be touched.
extern bool python_exiting;

/// A Python object held from C++: by a solve and by the autograd graph (the adjoint and the DEQ's
/// implicit backward call it again in backward, on an autograd thread), which may let go of it on
/// any thread and as late as the interpreter's exit. The last release takes the GIL; after exit
/// began the reference is left to the dying interpreter.
using Held = std::shared_ptr<py::object>;
Held hold(py::object object);

/// A tensor function of one or more tensors. A TorchScript module (torch.jit.script or
/// torch.jit.trace of an nn.Module) runs in C++ alone, so a solve over it never returns to the
/// interpreter (the fast path); any other callable is called through the interpreter, taking the GIL
/// for each call. Solves run with the GIL released: LibTorch's autograd engine, which the trace
/// estimators, Newton's Jacobians and the DEQ's regularizer call in forward, refuses to run under it.
class TensorFunction {
 public:
  /// `signature` names the function in errors, e.g. "func(t, y)".
  TensorFunction(py::object function, std::string signature);

  torch::Tensor operator()(const torch::Tensor& a) const;
  torch::Tensor operator()(const torch::Tensor& a, const torch::Tensor& b) const;
  bool scripted() const { return script_.has_value(); }

 private:
  torch::Tensor run_script(std::vector<c10::IValue> inputs) const;
  template <class... Tensors>
  torch::Tensor run_python(const Tensors&... inputs) const;

  Held python_;
  std::optional<torch::jit::Module> script_;
  std::string signature_;
};

// The parts of the extension module, each binding one layer of the library.
void bind_ode(py::module_& m);
void bind_deq(py::module_& m);

}  // namespace deepdyn::python
