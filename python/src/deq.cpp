// deepdyn._deepdyn, DEQ part: deq::solve_fixed_point and the DEQ layer for Python functions.
#include <deepdyn/deepdyn.h>
#include <pybind11/stl.h>

#include "functions.h"

namespace deepdyn::python {
namespace {

// One fixed-point solve's settings, as python/deepdyn/deq.py fills them in; a method's own settings
// are left unset for the others (deq.py refuses them there).
struct FixedPointSettings {
  std::string method = "broyden";
  double tol = 1e-6;
  int64_t max_iter = 50;
  std::string stop_on = "relative";
  std::optional<int64_t> memory;      // anderson, broyden
  std::optional<bool> line_search;    // broyden
  std::optional<double> damping;      // picard
  std::optional<double> beta, lam;    // anderson
};

const core::NameTable<deq::ResidualNorm>& residual_norms() {
  static const core::NameTable<deq::ResidualNorm> table(
      "residual norm", {{"absolute", deq::ResidualNorm::Absolute}, {"relative", deq::ResidualNorm::Relative}});
  return table;
}

deq::FixedPointOptions fixed_point_options(const FixedPointSettings& s) {
  auto method = deq::parse_method(s.method);
  std::visit(
      [&](auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, deq::Picard>) {
          if (s.damping) m.damping(*s.damping);
        } else if constexpr (std::is_same_v<M, deq::Anderson>) {
          if (s.memory) m.memory(*s.memory);
          if (s.beta) m.beta(*s.beta);
          if (s.lam) m.lambda(*s.lam);
        } else {
          if (s.memory) m.memory(*s.memory);
          if (s.line_search) m.line_search(*s.line_search);
        }
      },
      method);
  auto options = deq::FixedPointOptions(method).tol(s.tol).max_iterations(s.max_iter).stop_on(residual_norms().parse(s.stop_on));
  options.validate();
  return options;
}

// (z, stats, absolute residual, relative residual), per sample.
py::tuple fixed_point(py::object f, const torch::Tensor& z0, const FixedPointSettings& settings) {
  TensorFunction map(std::move(f), "f(z)");
  const auto options = fixed_point_options(settings);
  deq::FixedPointResult result;
  {
    py::gil_scoped_release release;
    result = deq::solve_fixed_point(map, z0, options);
  }
  return py::make_tuple(result.z, std::make_shared<core::Stats>(std::move(result.stats)), result.residuals.absolute,
                        result.residuals.relative);
}

struct DEQSettings {
  FixedPointSettings forward, backward;
  std::string gradient = "implicit";
  int64_t phantom_steps = 5;
  double phantom_tau = 0.5;
  int64_t jacobian_probes = 0;
};

deq::DEQOptions deq_options(const DEQSettings& s) {
  auto backward = deq::parse_backward(s.gradient);
  if (auto* implicit = std::get_if<deq::Implicit>(&backward)) implicit->solver(fixed_point_options(s.backward));
  if (auto* phantom = std::get_if<deq::Phantom>(&backward)) phantom->steps(s.phantom_steps).tau(s.phantom_tau);
  return deq::DEQOptions()
      .forward(fixed_point_options(s.forward))
      .backward(backward)
      .jacobian_probes(s.jacobian_probes);
}

// (z, stats, absolute residual, relative residual, jacobian Frobenius estimate or None).
py::tuple equilibrium(py::object f, const torch::Tensor& x, const torch::Tensor& z0, const DEQSettings& settings) {
  TensorFunction function(std::move(f), "f(z, x)");
  deq::DEQ layer([function](const torch::Tensor& z, const torch::Tensor& input) { return function(z, input); },
                 deq_options(settings));
  deq::DEQOutput out;
  {
    py::gil_scoped_release release;
    out = layer->forward(x, z0);
  }
  return py::make_tuple(out.z, out.stats, out.residuals.absolute, out.residuals.relative, out.jacobian_frobenius);
}

}  // namespace

void bind_deq(py::module_& m) {
  py::class_<FixedPointSettings>(m, "FixedPointSettings", "fixed-point solver settings (filled in by deepdyn.deq)")
      .def(py::init<>())
      .def_readwrite("method", &FixedPointSettings::method)
      .def_readwrite("tol", &FixedPointSettings::tol)
      .def_readwrite("max_iter", &FixedPointSettings::max_iter)
      .def_readwrite("stop_on", &FixedPointSettings::stop_on)
      .def_readwrite("memory", &FixedPointSettings::memory)
      .def_readwrite("line_search", &FixedPointSettings::line_search)
      .def_readwrite("damping", &FixedPointSettings::damping)
      .def_readwrite("beta", &FixedPointSettings::beta)
      .def_readwrite("lam", &FixedPointSettings::lam);
  py::class_<DEQSettings>(m, "DEQSettings", "DEQ layer settings (filled in by deepdyn.deq.DEQ)")
      .def(py::init<>())
      .def_readwrite("forward", &DEQSettings::forward)
      .def_readwrite("backward", &DEQSettings::backward)
      .def_readwrite("gradient", &DEQSettings::gradient)
      .def_readwrite("phantom_steps", &DEQSettings::phantom_steps)
      .def_readwrite("phantom_tau", &DEQSettings::phantom_tau)
      .def_readwrite("jacobian_probes", &DEQSettings::jacobian_probes);

  m.def("fixed_point", &fixed_point, py::arg("f"), py::arg("z0"), py::arg("settings"));
  m.def("equilibrium", &equilibrium, py::arg("f"), py::arg("x"), py::arg("z0"), py::arg("settings"));
  m.def("fixed_point_method_names", &deq::method_names);
  m.def("deq_backward_names", &deq::backward_names);
  m.def("residual_norm_names", [] { return residual_norms().names(); });
}

}  // namespace deepdyn::python
