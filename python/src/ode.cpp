// deepdyn._deepdyn, ODE part: ode::solve and cnf::integrate_flow for Python fields.
#include <deepdyn/deepdyn.h>
#include <pybind11/stl.h>

#include "functions.h"

namespace deepdyn::python {
namespace {

// The solver settings python/deepdyn/_ode.py fills in from torchdiffeq-style arguments.
struct SolveSettings {
  std::string method = "dopri5", gradient = "direct";
  std::vector<double> rtol{1e-7}, atol{1e-9};  // one value, or one per component of a tuple state
  std::optional<double> step_size, first_step;
  std::vector<double> step_t, jump_t;
  int64_t max_steps = 100000;
  bool max_component_rms = true;  // torchdiffeq's error norm for tuple states, else RMS over the whole state
  std::vector<torch::Tensor> params;  // what Adjoint and Checkpointed gradients differentiate
  // Adjoint only; unset ones take the forward's.
  std::optional<std::string> adjoint_method;
  std::optional<double> adjoint_rtol, adjoint_atol;
  bool adjoint_seminorm = false;
};

ode::Gradient gradient_of(const SolveSettings& s) {
  auto gradient = ode::parse_gradient(s.gradient);
  if (auto* adjoint = std::get_if<ode::Adjoint>(&gradient)) {
    if (s.adjoint_method) adjoint->method(ode::parse_method(*s.adjoint_method));
    adjoint->rtol(s.adjoint_rtol).atol(s.adjoint_atol);
    adjoint->norm(s.adjoint_seminorm ? ode::AdjointNorm::Seminorm : ode::AdjointNorm::Full);
  }
  return gradient;
}

ode::SolveOptions solve_options(const SolveSettings& s) {
  return ode::SolveOptions()
      .method(ode::parse_method(s.method))
      .rtol(s.rtol)
      .atol(s.atol)
      .step_size(s.step_size)
      .step_control(ode::StepControl().first_step(s.first_step))
      .step_ts(s.step_t)
      .jump_ts(s.jump_t)
      .max_steps(s.max_steps)
      .error_norm(s.max_component_rms ? ode::ErrorNorm::MaxComponentRms : ode::ErrorNorm::Rms)
      .gradient(gradient_of(s))
      .params(s.params);
}

// (ys, stats, events), events a list of (t, y, index) in time order; event_fn (None: no event) is
// g(t, y), whose elements' crossings of zero are the events (ode::Event).
py::tuple solve(py::object func, const torch::Tensor& y0, const torch::Tensor& t, const SolveSettings& settings,
                py::object event_fn, bool terminal, int direction) {
  TensorFunction field(std::move(func), "func(t, y)");
  auto options = solve_options(settings);
  if (!event_fn.is_none()) {
    TensorFunction g(std::move(event_fn), "event_fn(t, y)");
    options.event(ode::Event(g).terminal(terminal).direction(direction));
  }
  ode::Solution solution;
  {
    py::gil_scoped_release release;
    solution = ode::solve(field, y0, t, options);
  }
  py::list events;
  for (const auto& e : solution.events) events.append(py::make_tuple(e.t, e.y, e.index));
  return py::make_tuple(solution.ys, solution.stats, events);
}

py::tuple solve_tuple(py::object func, const std::vector<torch::Tensor>& y0, const torch::Tensor& t,
                      const SolveSettings& settings) {
  auto field = [func = hold(std::move(func))](const torch::Tensor& time, const std::vector<torch::Tensor>& y) {
    py::gil_scoped_acquire gil;
    return (*func)(time, py::tuple(py::cast(y))).cast<std::vector<torch::Tensor>>();
  };
  const auto options = solve_options(settings);
  ode::TupleSolution solution;
  {
    py::gil_scoped_release release;
    solution = ode::solve_tuple(field, y0, t, options);
  }
  return py::make_tuple(py::tuple(py::cast(solution.ys)), solution.stats);
}

const core::NameTable<core::Noise>& noises() {
  static const core::NameTable<core::Noise> table("Hutchinson noise",
                                                  {{"gaussian", core::Noise::Gaussian}, {"rademacher", core::Noise::Rademacher}});
  return table;
}

// (z, delta_logp, kinetic, jacobian, stats); kinetic and jacobian are None unless regularize.
py::tuple integrate_flow(py::object func, const torch::Tensor& z0, const torch::Tensor& t, const std::string& trace,
                         const std::string& noise, bool regularize, const SolveSettings& settings) {
  TensorFunction field(std::move(func), "func(t, z)");
  const auto options = cnf::FlowOptions()
                           .trace(core::parse_trace_estimator(trace))
                           .noise(noises().parse(noise))
                           .regularize(regularize)
                           .solver(solve_options(settings));
  cnf::FlowResult flow;
  {
    py::gil_scoped_release release;
    flow = cnf::integrate_flow(field, z0, t, options);
  }
  return py::make_tuple(flow.z, flow.delta_logp, flow.kinetic, flow.jacobian, flow.stats);
}

}  // namespace

void bind_ode(py::module_& m) {
  py::class_<SolveSettings>(m, "SolveSettings", "ODE solver settings (filled in by deepdyn.solve)")
      .def(py::init<>())
      .def_readwrite("method", &SolveSettings::method)
      .def_readwrite("gradient", &SolveSettings::gradient)
      .def_readwrite("rtol", &SolveSettings::rtol)
      .def_readwrite("atol", &SolveSettings::atol)
      .def_readwrite("step_size", &SolveSettings::step_size)
      .def_readwrite("first_step", &SolveSettings::first_step)
      .def_readwrite("step_t", &SolveSettings::step_t)
      .def_readwrite("jump_t", &SolveSettings::jump_t)
      .def_readwrite("max_steps", &SolveSettings::max_steps)
      .def_readwrite("max_component_rms", &SolveSettings::max_component_rms)
      .def_readwrite("params", &SolveSettings::params)
      .def_readwrite("adjoint_method", &SolveSettings::adjoint_method)
      .def_readwrite("adjoint_rtol", &SolveSettings::adjoint_rtol)
      .def_readwrite("adjoint_atol", &SolveSettings::adjoint_atol)
      .def_readwrite("adjoint_seminorm", &SolveSettings::adjoint_seminorm);

  m.def("solve", &solve, py::arg("func"), py::arg("y0"), py::arg("t"), py::arg("settings"), py::arg("event_fn"),
        py::arg("terminal"), py::arg("direction"));
  m.def("solve_tuple", &solve_tuple, py::arg("func"), py::arg("y0"), py::arg("t"), py::arg("settings"));
  m.def("integrate_flow", &integrate_flow, py::arg("func"), py::arg("z0"), py::arg("t"), py::arg("trace"),
        py::arg("noise"), py::arg("regularize"), py::arg("settings"));
  m.def("standard_normal_log_density", &cnf::standard_normal_log_density, py::arg("z"));
  m.def("method_names", &ode::method_names);
  m.def("trace_names", &core::trace_estimator_names);
  m.def("noise_names", [] { return noises().names(); });
}

}  // namespace deepdyn::python
