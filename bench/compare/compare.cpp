// deepdyn's side of bench/compare: a server that runs one benchmark case per request, so that the
// Python driver (compare.py) can interleave it with the peers (torchdiffeq, diffrax, torchdeq) on
// the same problems.
//   bench_compare PROBLEM.json
// PROBLEM.json (written by compare.py) holds the weights, the initial states and the tolerances.
// It first writes one JSON line {"libtorch": version, "threads": n}. Then each stdin line is
// "<case>" or "<case> values", and each answer is one JSON line on stdout:
//   {"case", "seconds" (around the case only), "nfe", "nfe_backward", "iterations",
//    "iterations_backward", "steps", "values" (outputs and gradients, only when asked; FFJORD's
//    also the losses of 10 Adam steps)}
// Cases: spiral.solve, spiral.direct, spiral.adjoint, deq.{broyden,anderson}.{forward,train},
// ffjord.train (Hutchinson), ffjord.exact (exact trace), and spiral.reference (y(T) and the
// gradient in float64 at rtol 1e-12, untimed).
// An empty line or EOF ends the program. Always one thread.
#include <deepdyn/deepdyn.h>
#include <torch/version.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../spiral_field.h"

namespace dd = deepdyn;
using nlohmann::json;

namespace {

using Params = std::map<std::string, torch::Tensor>;

// {"shape": [...], "data": [flat, row-major]} -> float32 tensor
torch::Tensor tensor_of(const json& j) {
  auto data = j.at("data").get<std::vector<float>>();
  auto shape = j.at("shape").get<std::vector<int64_t>>();
  return torch::tensor(data, torch::kFloat32).reshape(shape);
}

json flat(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

Params params_of(const json& j) {
  Params p;
  for (const auto& [name, value] : j.items()) p[name] = tensor_of(value).requires_grad_(true);
  return p;
}

std::vector<torch::Tensor> values_of(const Params& p) {
  std::vector<torch::Tensor> v;
  for (const auto& [name, t] : p) v.push_back(t);
  return v;
}

void zero_grads(Params& p) {
  for (auto& [name, t] : p) t.mutable_grad() = torch::Tensor();
}

json grads_of(const Params& p) {
  json g;
  for (const auto& [name, t] : p) g[name] = flat(t.grad());
  return g;
}

template <class F>
double seconds(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// torchdiffeq's ode_demo field: f(t, y) = W2 tanh(W1 y^3 + b1) + b2.
struct Spiral {
  Params p;
  torch::Tensor y0, ts;
  double rtol, atol;
  bool fused;

  Spiral(const json& j, bool fused)
      : p(params_of(j.at("params"))),
        y0(tensor_of(j.at("y0"))),
        ts(torch::tensor({0.0, j.at("t1").get<double>()}, torch::kFloat64)),
        rtol(j.at("rtol").get<double>()),
        atol(j.at("atol").get<double>()),
        fused(fused) {}

  // The library's building block, core::mlp (fused kernels), or the same network in LibTorch
  // operations with deepdyn's tanh (core/activation.h; LibTorch's is most of this field's time).
  torch::Tensor field(const torch::Tensor& /*t*/, const torch::Tensor& y) const {
    if (fused)
      return dd::core::mlp(y, {p.at("w1"), p.at("w2")}, {p.at("b1"), p.at("b2")}, dd::core::Activation::Tanh,
                           dd::core::MLPInput::Cube);
    return at::linear(dd::core::tanh(at::linear(y.pow(3), p.at("w1"), p.at("b1"))), p.at("w2"), p.at("b2"));
  }

  // y(T) and the gradient of mean(y(T)^2) (direct backprop) in float64 at rtol 1e-12, atol 1e-14:
  // the reference the float32 solves are measured against.
  json reference() const {
    Params w;
    for (const auto& [name, t] : p) w[name] = t.detach().to(torch::kFloat64).requires_grad_(true);
    auto f = [&w](const torch::Tensor& /*t*/, const torch::Tensor& y) {
      return at::linear(torch::tanh(at::linear(y.pow(3), w.at("w1"), w.at("b1"))), w.at("w2"), w.at("b2"));
    };
    auto sol = dd::ode::solve(f, y0.to(torch::kFloat64), ts, dd::ode::SolveOptions().rtol(1e-12).atol(1e-14));
    auto yT = sol.ys[-1];
    yT.pow(2).mean().backward();
    return {{"nfe", sol.stats->nfe}, {"values", {{"y", flat(yT)}, {"grads", grads_of(w)}}}};
  }

  json run(const std::string& mode, bool values) {
    if (mode == "reference") return reference();
    auto opts = dd::ode::SolveOptions().method(dd::ode::Method::Dopri5).rtol(rtol).atol(atol);
    if (mode == "adjoint") opts.gradient(dd::ode::Adjoint{}).params(values_of(p));
    if (fused) {
      // The network's own vector-Jacobian product: the Direct gradient sweeps the stored stages
      // without autograd's tape, the Adjoint's backward field records no graph.
      auto position = [&](const std::string& name) {
        return static_cast<size_t>(std::distance(p.begin(), p.find(name)));  // values_of's order
      };
      opts.params(values_of(p))
          .vjp(spiral_vjp(p.at("w1"), p.at("b1"), p.at("w2"), p.at("b2"),
                          {position("w1"), position("b1"), position("w2"), position("b2")}));
    }
    const dd::ode::Field f = [this](const torch::Tensor& t, const torch::Tensor& y) { return field(t, y); };
    zero_grads(p);
    dd::ode::Solution sol;
    torch::Tensor yT;
    double s;
    if (mode == "solve") {
      torch::NoGradGuard no_grad;
      s = seconds([&] { sol = dd::ode::solve(f, y0, ts, opts); });
      yT = sol.ys[-1];
    } else {
      TORCH_CHECK(mode == "direct" || mode == "adjoint", "unknown spiral case '", mode, "'");
      s = seconds([&] {
        sol = dd::ode::solve(f, y0, ts, opts);
        yT = sol.ys[-1];
        yT.pow(2).mean().backward();
      });
    }
    json out = {{"seconds", s},
                {"nfe", sol.stats->nfe},
                {"nfe_backward", sol.stats->nfe_backward},
                {"steps", sol.stats->steps},
                {"steps_backward", sol.stats->steps_backward}};
    if (values) out["values"] = {{"y", flat(yT)}, {"grads", mode == "solve" ? json::object() : grads_of(p)}};
    return out;
  }
};

// z = tanh(W z + U x + b), solved for z* over the batch.
struct Equilibrium {
  Params p;
  dd::deq::TanhCell cell{nullptr};  ///< f(z, u) = tanh(W z + u), holding W (p["W"] is its weight)
  torch::Tensor x, z0;
  dd::deq::FixedPointOptions forward, backward;
  int64_t broyden_memory, anderson_memory;
  int64_t calls = 0;  // evaluations of f, counted the same way as on the peer's side

  explicit Equilibrium(const json& j)
      : p(params_of(j.at("params"))),
        x(tensor_of(j.at("x"))),
        z0(torch::zeros({x.size(0), p.at("W").size(0)})),
        broyden_memory(j.at("broyden_memory").get<int64_t>()),
        anderson_memory(j.at("anderson_memory").get<int64_t>()) {
    cell = dd::deq::TanhCell(p.at("W").size(0));
    {
      torch::NoGradGuard no_grad;
      cell->weight.copy_(p.at("W"));
    }
    p["W"] = cell->weight;
    const auto& f = j.at("forward");
    const auto& b = j.at("backward");
    // Relative residual ||f(z) - z|| / ||f(z)|| per sample, every sample at or below tol: torchdeq's "rel".
    forward = dd::deq::FixedPointOptions()
                  .tol(f.at("tol").get<double>())
                  .max_iterations(f.at("max_iter").get<int64_t>())
                  .stop_on(dd::deq::ResidualNorm::Relative);
    backward = dd::deq::FixedPointOptions()
                   .tol(b.at("tol").get<double>())
                   .max_iterations(b.at("max_iter").get<int64_t>())
                   .stop_on(dd::deq::ResidualNorm::Relative);
  }

  json run(const std::string& method, const std::string& mode, bool values) {
    dd::deq::Method m;
    if (method == "broyden") {
      m = dd::deq::Broyden().memory(broyden_memory);
    } else {
      TORCH_CHECK(method == "anderson", "unknown DEQ method '", method, "'");
      m = dd::deq::Anderson().memory(anderson_memory);
    }
    // The fused cell on the injection u = U x + b, computed once per solve, and the cell's own VJP
    // for the implicit backward's linear system.
    auto opts = dd::deq::DEQOptions()
                    .forward(dd::deq::FixedPointOptions(forward).method(m))
                    .backward(dd::deq::Implicit(dd::deq::FixedPointOptions(backward).method(m)))
                    .vjp([this](const torch::Tensor& z, const torch::Tensor& fz, const torch::Tensor& v) {
                      return cell->vjp(z, fz, v);
                    });
    dd::deq::DEQ deq(
        [this](const torch::Tensor& z, const torch::Tensor& u) {
          ++calls;
          return cell(z, u);
        },
        opts);
    auto solve = [&] { return deq(at::linear(x, p.at("U"), p.at("b")), z0); };
    zero_grads(p);
    calls = 0;
    int64_t nfe = 0;
    dd::deq::DEQOutput out;
    double s;
    if (mode == "forward") {
      torch::NoGradGuard no_grad;
      s = seconds([&] { out = solve(); });
      nfe = calls;
    } else {
      TORCH_CHECK(mode == "train", "unknown DEQ case '", mode, "'");
      s = seconds([&] {
        out = solve();
        nfe = calls;
        out.z.pow(2).mean().backward();
      });
    }
    json r = {{"seconds", s},
              {"nfe", nfe},
              {"nfe_backward", out.stats->nfe_backward},
              {"iterations", out.stats->steps},
              {"iterations_backward", out.stats->steps_backward},
              {"converged", out.stats->termination == dd::core::Termination::Success},
              {"converged_backward", out.stats->termination_backward == dd::core::Termination::Success}};
    if (values) r["values"] = {{"y", flat(out.z)}, {"grads", mode == "forward" ? json::object() : grads_of(p)}};
    return r;
  }
};

// FFJORD's toy training step: 8gaussians through the CNF's concat-squash net (cnf::ODENet, on the
// fused forward-mode divergence), Hutchinson's trace with the problem's probe or the exact trace,
// dopri5, adjoint, loss = -mean(log p(x)).
struct Flow {
  static constexpr int kTrajectory = 10;
  dd::cnf::ODENet net;
  Params p;  ///< the net's parameters by name (layer0.layer.weight, ...)
  torch::Tensor x, probe, ts;
  double rtol, atol;

  explicit Flow(const json& j)
      : net(2, std::vector<int64_t>{64, 64, 64}, dd::core::Activation::Tanh),
        x(tensor_of(j.at("x"))),
        probe(tensor_of(j.at("probe"))),
        ts(torch::tensor({0.0, j.at("t1").get<double>()}, torch::kFloat32)),
        rtol(j.at("rtol").get<double>()),
        atol(j.at("atol").get<double>()) {
    torch::NoGradGuard no_grad;
    for (auto& item : net->named_parameters()) {
      const auto& name = item.key();
      auto& value = item.value();
      const auto given = tensor_of(j.at("params").at(name));
      TORCH_CHECK(given.sizes() == value.sizes(), "ffjord parameter ", name, ": expected ", value.sizes(), ", got ",
                  given.sizes());
      value.copy_(given);
      p[name] = value;
    }
  }

  /// One training step's loss, z(T) and delta log p: the trace by Hutchinson's estimator with the
  /// problem's probe, or exact (an undefined probe).
  dd::cnf::FlowResult step(const torch::Tensor& trace_probe, torch::Tensor& loss) {
    // The problem's probe in place of a fresh draw, as on the peer's side; the net's own
    // vector-Jacobian product for the adjoint's backward field (no graph per evaluation).
    dd::cnf::DivergenceField field;
    field.evaluate = [&](const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& /*drawn*/) {
      return net->divergence(t, z, trace_probe);
    };
    field.vjp = [&](const torch::Tensor& t, const torch::Tensor& z, const torch::Tensor& /*drawn*/,
                    const torch::Tensor& v, const torch::Tensor& w, const std::vector<torch::Tensor>& grads,
                    bool with_value) { return net->divergence_vjp(t, z, trace_probe, v, w, grads, with_value); };
    field.parameters = net->parameters();
    const auto options = dd::cnf::FlowOptions().solver(
        dd::ode::SolveOptions().rtol(rtol).atol(atol).gradient(dd::ode::Adjoint{}).params(field.parameters));
    auto r = dd::cnf::integrate_flow(field, x, ts, options);
    loss = -(dd::cnf::standard_normal_log_density(r.z) - r.delta_logp).mean();
    loss.backward();
    return r;
  }

  /// The losses of kTrajectory Adam steps (lr 1e-3, FFJORD's train_toy default) from the problem's
  /// weights, which are restored afterwards: the loss trajectory both sides must share.
  std::vector<double> trajectory(const torch::Tensor& trace_probe) {
    std::vector<torch::Tensor> initial;
    for (const auto& q : net->parameters()) initial.push_back(q.detach().clone());
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
    std::vector<double> losses;
    for (int i = 0; i < kTrajectory; ++i) {
      adam.zero_grad();
      torch::Tensor loss;
      step(trace_probe, loss);
      losses.push_back(loss.item<double>());
      adam.step();
    }
    torch::NoGradGuard no_grad;
    const auto params = net->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(initial[i]);
    return losses;
  }

  json run(const std::string& mode, bool values) {
    TORCH_CHECK(mode == "train" || mode == "exact", "unknown ffjord case '", mode, "'");
    const auto trace_probe = mode == "train" ? probe : torch::Tensor();
    zero_grads(p);
    dd::cnf::FlowResult r;
    torch::Tensor loss;
    const double s = seconds([&] { r = step(trace_probe, loss); });
    json out = {{"seconds", s},
                {"nfe", r.stats->nfe},
                {"nfe_backward", r.stats->nfe_backward},
                {"steps", r.stats->steps},
                {"steps_backward", r.stats->steps_backward}};
    if (values) {
      out["values"] = {{"y", flat(torch::cat({r.z.flatten(), r.delta_logp.flatten()}))},
                       {"grads", grads_of(p)},
                       {"losses", trajectory(trace_probe)}};
    }
    return out;
  }
};

}  // namespace

int main(int argc, char** argv) {
  deepdyn::core::keep_freed_memory();  // as the deepdyn command does
  const bool unfused = argc == 3 && std::string(argv[2]) == "--unfused";
  if (argc != 2 && !unfused) {
    std::cerr << "usage: bench_compare PROBLEM.json [--unfused]   (then one case per stdin line; see compare.py)\n"
                 "  --unfused: the spiral field in LibTorch operations instead of core::mlp's fused kernels\n";
    return 2;
  }
  torch::set_num_threads(1);
  try {
    torch::set_num_interop_threads(1);
  } catch (const c10::Error&) {  // refused once inter-op work has started; one thread is all we need
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << "bench_compare: cannot read " << argv[1] << "\n";
    return 2;
  }
  const json problem = json::parse(in);
  Spiral spiral(problem.at("spiral"), !unfused);
  Equilibrium equilibrium(problem.at("deq"));
  Flow flow(problem.at("ffjord"));
  std::ostringstream version;
  version << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "." << TORCH_VERSION_PATCH;
  std::cout << json{{"libtorch", version.str()}, {"threads", torch::get_num_threads()}}.dump() << std::endl;

  std::string line;
  while (std::getline(std::cin, line) && !line.empty()) {
    std::istringstream words(line);
    std::string name, flag;
    words >> name >> flag;
    json answer;
    try {
      std::vector<std::string> parts;
      std::stringstream ss(name);
      for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
      const bool values = flag == "values";
      if (parts.size() == 2 && parts[0] == "spiral") {
        answer = spiral.run(parts[1], values);
      } else if (parts.size() == 2 && parts[0] == "ffjord") {
        answer = flow.run(parts[1], values);
      } else if (parts.size() == 3 && parts[0] == "deq") {
        answer = equilibrium.run(parts[1], parts[2], values);
      } else {
        answer = {{"error", "unknown case '" + name + "'"}};
      }
    } catch (const std::exception& e) {
      answer = {{"error", e.what()}};
    }
    answer["case"] = name;
    std::cout << answer.dump() << std::endl;
  }
  return 0;
}
