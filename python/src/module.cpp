// deepdyn._deepdyn: ode::solve for Python callables on torch.Tensors. The tensors are the same
// objects on both sides (one tensor type, one autograd engine), so gradients flow through a solve
// into the caller's graph. python/deepdyn/__init__.py holds the torchdiffeq-style front.
#include <deepdyn/deepdyn.h>
#include <pybind11/stl.h>
#include <torch/extension.h>

#include <optional>
#include <string>
#include <vector>

namespace dd = deepdyn;
namespace py = pybind11;

namespace {

struct Settings {
  std::string method, gradient;
  std::vector<double> rtol, atol;
  std::optional<double> step_size, first_step;
  std::vector<double> step_t, jump_t;
  int64_t max_steps;
  bool max_component_rms;  // torchdiffeq's error norm for tuple states, else RMS over the whole state
  std::vector<torch::Tensor> params;
};

dd::ode::SolveOptions solve_options(const Settings& s) {
  return dd::ode::SolveOptions()
      .method(dd::ode::parse_method(s.method))
      .rtol(s.rtol)
      .atol(s.atol)
      .step_size(s.step_size)
      .step_control(dd::ode::StepControl().first_step(s.first_step))
      .step_ts(s.step_t)
      .jump_ts(s.jump_t)
      .max_steps(s.max_steps)
      .error_norm(s.max_component_rms ? dd::ode::ErrorNorm::MaxComponentRms : dd::ode::ErrorNorm::Rms)
      .gradient(dd::ode::parse_gradient(s.gradient))
      .params(s.params);
}

bool python_exiting = false;  // set by an atexit hook: from then on no Python object may be touched

// The Python field, held by the solve and by the autograd graph (the adjoint evaluates it again in
// backward, on an autograd thread), which may let go of it on any thread and as late as the
// interpreter's exit. Calls and the last release take the GIL; after exit began the reference is
// left to the dying interpreter.
using PythonField = std::shared_ptr<py::object>;

PythonField hold(py::object func) {
  return PythonField(new py::object(std::move(func)), [](py::object* f) {
    if (python_exiting) {
      f->release();
    } else {
      py::gil_scoped_acquire gil;
      f->dec_ref();
      f->release();
    }
    delete f;
  });
}

template <class Result, class State>
Result call(const PythonField& func, const torch::Tensor& t, const State& y) {
  py::gil_scoped_acquire gil;  // a no-op on the thread that holds it already
  return (*func)(t, y).template cast<Result>();
}

py::tuple solve(py::object func, const torch::Tensor& y0, const torch::Tensor& t, const Settings& settings) {
  auto field = [func = hold(std::move(func))](const torch::Tensor& time, const torch::Tensor& y) {
    return call<torch::Tensor>(func, time, y);
  };
  auto solution = dd::ode::solve(field, y0, t, solve_options(settings));
  return py::make_tuple(solution.ys, solution.stats);
}

py::tuple solve_tuple(py::object func, const std::vector<torch::Tensor>& y0, const torch::Tensor& t,
                      const Settings& settings) {
  auto field = [func = hold(std::move(func))](const torch::Tensor& time, const std::vector<torch::Tensor>& y) {
    return call<std::vector<torch::Tensor>>(func, time, py::tuple(py::cast(y)));
  };
  auto solution = dd::ode::solve_tuple(field, y0, t, solve_options(settings));
  return py::make_tuple(py::tuple(py::cast(solution.ys)), solution.stats);
}

}  // namespace

PYBIND11_MODULE(_deepdyn, m) {
  m.doc() = "deepdyn's C++ core; use the functions of the deepdyn package";
  py::module_::import("atexit").attr("register")(py::cpp_function([] { python_exiting = true; }));
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
      .def_property_readonly("termination", [](const Stats& s) { return dd::core::termination_name(s.termination); })
      .def_readonly("message", &Stats::message)
      .def("__repr__", [](const Stats& s) {
        return "Stats(nfe=" + std::to_string(s.nfe) + ", steps=" + std::to_string(s.steps) +
               ", accepted=" + std::to_string(s.accepted) + ", rejected=" + std::to_string(s.rejected) +
               ", nfe_backward=" + std::to_string(s.nfe_backward) + ")";
      });

  py::class_<Settings>(m, "Settings")
      .def(py::init<std::string, std::string, std::vector<double>, std::vector<double>, std::optional<double>,
                    std::optional<double>, std::vector<double>, std::vector<double>, int64_t, bool,
                    std::vector<torch::Tensor>>(),
           py::arg("method"), py::arg("gradient"), py::arg("rtol"), py::arg("atol"), py::arg("step_size"),
           py::arg("first_step"), py::arg("step_t"), py::arg("jump_t"), py::arg("max_steps"),
           py::arg("max_component_rms"), py::arg("params"));

  m.def("keep_freed_memory", [] { return dd::core::keep_freed_memory(); },
        "Keeps freed tensor memory in the process for reuse (glibc: no heap trimming, no mmap below 32 "
        "MiB), so each training iteration does not fault its pages in again; process-wide, returns False "
        "where the C library is not glibc.");
  m.def("solve", &solve, py::arg("func"), py::arg("y0"), py::arg("t"), py::arg("settings"));
  m.def("solve_tuple", &solve_tuple, py::arg("func"), py::arg("y0"), py::arg("t"), py::arg("settings"));
  m.def("method_names", &dd::ode::method_names);
}
