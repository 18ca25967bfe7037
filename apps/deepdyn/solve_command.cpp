// deepdyn solve: integrates a TorchScript vector field and writes the trajectory and the stats.
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/files.h>
#include <deepdyn/ode/script_field.h>
#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>

#include "commands.h"

namespace deepdyn::cli {
namespace {

struct SolveArguments {
  std::string field, y0, t, method = "dopri5", out = "trajectory.csv", stats;
  double rtol = 1e-7, atol = 1e-9;
  std::optional<double> step_size;
  std::string dtype = "float64";
};

std::vector<uint8_t> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

int run_solve(const SolveArguments& args, const GlobalOptions& global) {
  const auto device = apply(global);
  TORCH_CHECK(args.dtype == "float64" || args.dtype == "float32", "--dtype must be float64 or float32, got '", args.dtype,
              "'");
  const auto dtype = args.dtype == "float64" ? torch::kFloat64 : torch::kFloat32;
  TORCH_CHECK(args.rtol > 0 && args.atol > 0, "--rtol and --atol must be > 0, got ", args.rtol, " and ", args.atol);
  auto options = ode::SolveOptions().method(ode::parse_method(args.method)).rtol(args.rtol).atol(args.atol);
  if (args.step_size) {
    TORCH_CHECK(*args.step_size > 0, "--step-size must be > 0, got ", *args.step_size);
    options.step_size(*args.step_size);
  }
  auto y0 = parse_numbers(args.y0, "--y0").to(device, dtype);
  auto ts = parse_times(args.t).to(device, dtype);
  ode::ScriptField field(args.field);
  field.module().to(device, dtype);
  torch::NoGradGuard no_grad;
  auto solution = ode::solve(field, y0, ts, options.throw_on_failure(false));
  std::vector<std::string> header = {"t"};
  for (int64_t j = 0; j < y0.numel(); ++j) header.push_back("y" + std::to_string(j));
  write_table(args.out, torch::cat({ts.unsqueeze(1).to(torch::kFloat64), solution.ys.reshape({ts.size(0), -1}).to(torch::kFloat64)}, 1),
              header);
  const auto& s = *solution.stats;
  nlohmann::json stats = {{"termination", core::termination_name(s.termination)},
                          {"message", s.message},
                          {"method", args.method},
                          {"nfe", s.nfe},
                          {"steps", s.steps},
                          {"accepted", s.accepted},
                          {"rejected", s.rejected},
                          {"initial_dt", s.initial_dt},
                          {"final_dt", s.final_dt}};
  if (!args.stats.empty()) io::write_file_atomically(args.stats, bytes_of(stats.dump(2) + "\n"));
  std::printf("%s: %s, nfe %lld, steps %lld (%lld rejected) -> %s\n", args.field.c_str(),
              core::termination_name(s.termination).c_str(), static_cast<long long>(s.nfe), static_cast<long long>(s.steps),
              static_cast<long long>(s.rejected), args.out.c_str());
  TORCH_CHECK(s.termination == core::Termination::Success, "the solve stopped early: ", s.message);
  return 0;
}

}  // namespace

void add_solve_command(CLI::App& app, const GlobalOptions& global, std::function<int()>& action) {
  auto args = std::make_shared<SolveArguments>();
  auto* cmd = app.add_subcommand("solve", "Integrate a TorchScript vector field forward(t, y) -> dy/dt");
  cmd->add_option("--field", args->field, "TorchScript file (torch.jit.script(module).save(path) in Python)")
      ->required();
  cmd->add_option("--y0", args->y0, "Initial state: comma-separated numbers, e.g. 0.5,-1,2")->required();
  cmd->add_option("--t", args->t, "Output times: comma-separated (increasing or decreasing) or start:stop:count")
      ->required();
  std::string methods;
  for (const auto& name : ode::method_names()) methods += " " + name;
  cmd->add_option("--method", args->method, "Runge-Kutta method:" + methods)->capture_default_str();
  cmd->add_option("--rtol", args->rtol, "Relative tolerance (adaptive methods)")->capture_default_str();
  cmd->add_option("--atol", args->atol, "Absolute tolerance (adaptive methods)")->capture_default_str();
  cmd->add_option("--step-size", args->step_size, "Fixed step size (any method); default: adaptive, or ts for fixed methods");
  cmd->add_option("--dtype", args->dtype, "float64 or float32")->capture_default_str();
  cmd->add_option("--out", args->out, "Trajectory: .csv (t, y0, y1, ...) or .pt (the same table as a float64 tensor, torch.load)")
      ->capture_default_str();
  cmd->add_option("--stats", args->stats, "Also write the solver stats (nfe, steps, termination) to this JSON file");
  cmd->callback([args, &global, &action] { action = [args, &global] { return run_solve(*args, global); }; });
}

}  // namespace deepdyn::cli
