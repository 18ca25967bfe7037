#include "functions.h"

#include <deepdyn/ode/script_field.h>
#include <torch/csrc/jit/python/module_python.h>

namespace deepdyn::python {

bool python_exiting = false;

Held hold(py::object object) {
  return Held(new py::object(std::move(object)), [](py::object* held) {
    if (python_exiting) {
      held->release();
    } else {
      py::gil_scoped_acquire gil;
      held->dec_ref();
      held->release();
    }
    delete held;
  });
}

TensorFunction::TensorFunction(py::object function, std::string signature) : signature_(std::move(signature)) {
  TORCH_CHECK(PyCallable_Check(function.ptr()), signature_, " must be callable (an nn.Module or a function), got ",
              std::string(py::str(py::type::of(function).attr("__name__"))));
  if (auto module = torch::jit::as_module(function)) {
    script_ = std::move(*module);
  } else {
    python_ = hold(std::move(function));
  }
}

torch::Tensor TensorFunction::operator()(const torch::Tensor& a) const {
  return scripted() ? run_script({a}) : run_python(a);
}

torch::Tensor TensorFunction::operator()(const torch::Tensor& a, const torch::Tensor& b) const {
  return scripted() ? run_script({a, b}) : run_python(a, b);
}

torch::Tensor TensorFunction::run_script(std::vector<c10::IValue> inputs) const {
  c10::IValue out;
  try {
    out = const_cast<torch::jit::Module&>(*script_).forward(std::move(inputs));
  } catch (const std::exception& e) {
    TORCH_CHECK(false, signature_, ", a TorchScript module, failed: ", ode::script_error_line(e));
  }
  TORCH_CHECK(out.isTensor(), signature_, " must return a Tensor, its TorchScript forward returned a ", out.tagKind());
  return out.toTensor();
}

template <class... Tensors>
torch::Tensor TensorFunction::run_python(const Tensors&... inputs) const {
  py::gil_scoped_acquire gil;  // a no-op on the thread that holds it already
  py::object out = (*python_)(inputs...);
  if (!THPVariable_Check(out.ptr())) {
    throw py::type_error(signature_ + " must return a torch.Tensor, it returned a " +
                         std::string(py::str(py::type::of(out).attr("__name__"))));
  }
  return out.cast<torch::Tensor>();
}

}  // namespace deepdyn::python
