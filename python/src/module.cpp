// deepdyn._deepdyn: the library's solvers behind torch.Tensor arguments. The package
// python/deepdyn holds the torchdiffeq- and TorchDEQ-style fronts.
#include <deepdyn/deepdyn.h>
#include <pybind11/stl.h>

#include "functions.h"

namespace dd = deepdyn;
namespace py = pybind11;

namespace {

dd::core::MLPInput parse_mlp_input(const std::string& name) {
  static const dd::core::NameTable<dd::core::MLPInput> table(
      "MLP input", {{"identity", dd::core::MLPInput::Identity}, {"cube", dd::core::MLPInput::Cube}});
  return table.parse(name);
}

}  // namespace

// deepdyn's operators, callable from Python and from TorchScript as torch.ops.deepdyn.<name>.
TORCH_LIBRARY(deepdyn, m) {
  // core::tanh: LibTorch's tanh is most of a small MLP field's time; this one is about 8x faster on
  // float32 (AVX2), differentiable to any order, and torch.tanh elsewhere.
  m.def("tanh(Tensor x) -> Tensor", &dd::core::tanh);
  // core::mlp: a multilayer perceptron as one autograd node on fused kernels.
  m.def("mlp(Tensor x, Tensor[] weights, Tensor[] biases, str activation, str input) -> Tensor",
        [](const torch::Tensor& x, const std::vector<torch::Tensor>& weights, const std::vector<torch::Tensor>& biases,
           const std::string& activation, const std::string& input) {
          return dd::core::mlp(x, weights, biases, dd::core::parse_activation(activation), parse_mlp_input(input));
        });
}

PYBIND11_MODULE(_deepdyn, m) {
  m.doc() = "deepdyn's C++ core; use the functions of the deepdyn package";
  py::module_::import("atexit").attr("register")(py::cpp_function([] { dd::python::python_exiting = true; }));
  // c10::Error's what() carries a C++ backtrace: Python users get the message alone.
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const c10::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    }
  });

  using dd::core::Stats;
  py::class_<Stats, std::shared_ptr<Stats>>(m, "Stats", "Counters and termination of one solve and its backward")
      .def_readonly("nfe", &Stats::nfe)
      .def_readonly("steps", &Stats::steps)
      .def_readonly("accepted", &Stats::accepted)
      .def_readonly("rejected", &Stats::rejected)
      .def_readonly("initial_dt", &Stats::initial_dt)
      .def_readonly("final_dt", &Stats::final_dt)
      .def_readonly("nfe_backward", &Stats::nfe_backward)
      .def_readonly("steps_backward", &Stats::steps_backward)
      .def_readonly("newton_iterations", &Stats::newton_iterations)
      .def_readonly("jacobians", &Stats::jacobians)
      .def_readonly("linear_solves", &Stats::linear_solves)
      .def_property_readonly("termination", [](const Stats& s) { return dd::core::termination_name(s.termination); })
      .def_readonly("message", &Stats::message)
      .def_property_readonly("termination_backward",
                             [](const Stats& s) { return dd::core::termination_name(s.termination_backward); })
      .def_readonly("message_backward", &Stats::message_backward)
      .def_property_readonly("succeeded", &Stats::succeeded)
      .def("__repr__", [](const Stats& s) {
        return "Stats(nfe=" + std::to_string(s.nfe) + ", steps=" + std::to_string(s.steps) +
               ", accepted=" + std::to_string(s.accepted) + ", rejected=" + std::to_string(s.rejected) +
               ", nfe_backward=" + std::to_string(s.nfe_backward) + ", steps_backward=" +
               std::to_string(s.steps_backward) + ", termination='" + dd::core::termination_name(s.termination) +
               "')";
      });

  m.def("keep_freed_memory", [] { return dd::core::keep_freed_memory(); },
        "Keeps freed tensor memory in the process for reuse (glibc: no heap trimming, no mmap below 32 "
        "MiB), so each training iteration does not fault its pages in again; process-wide, returns False "
        "where the C library is not glibc.");
  dd::python::bind_ode(m);
  dd::python::bind_deq(m);
}
