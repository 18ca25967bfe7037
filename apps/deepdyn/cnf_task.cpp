// deepdyn train cnf: FFJORD on a 2-D toy density, optionally with RNODE's regularizers.
#include <deepdyn/deepdyn.h>

#include "figure.h"
#include "task.h"

namespace deepdyn::cli {
namespace {

/// The picture of a trained 2-D flow (FFJORD's figure): its density over [-extent, extent]^2 with a
/// colour bar, beside samples from the model and from the data, on the same axes.
void save_density_picture(cnf::CNF& flow, const torch::Tensor& data, const std::string& title, const std::string& path,
                          double extent = 4.0) {
  TORCH_CHECK(flow->options().dim() == 2, "save_density_picture needs a 2-D flow, got dimension ",
              flow->options().dim());
  torch::NoGradGuard no_grad;
  const auto dtype = flow->blocks[0]->parameters()[0].scalar_type();
  const int pixels = 240;
  const auto axis = torch::linspace(-extent, extent, pixels, torch::TensorOptions().dtype(dtype));
  const auto mesh = torch::meshgrid({axis, axis}, "ij");  // [y index, x index]
  const auto grid = torch::stack({mesh[1].flatten(), mesh[0].flatten()}, 1);
  const auto density = flow->log_prob(grid).exp().reshape({pixels, pixels});
  const auto samples = flow->sample(4000);
  Figure figure(1260, 420, 3, 1);
  figure.panel(0)
      .title(title + ": learned density")
      .labels("x1", "x2")
      .equal_aspect()
      .image(density, {-extent, extent, -extent, extent}, "p(x)");
  const std::pair<const char*, torch::Tensor> scatters[] = {{"samples from the model", samples}, {"data", data}};
  for (int k = 0; k < 2; ++k)
    figure.panel(k + 1)
        .title(scatters[k].first)
        .labels("x1", "x2")
        .equal_aspect()
        .limits(-extent, extent, -extent, extent)
        .points(scatters[k].second.select(1, 0), scatters[k].second.select(1, 1), {30, 60, 200});
  figure.save_png(path);
}

class CNFTask : public Task {
 public:
  CNFTask(const Json& config, const Setup& setup)
      : setup_(setup),
        toy_(data::parse_toy(config["data"].get<std::string>())),
        batch_(config["batch"].get<int64_t>()),
        eval_samples_(config["eval_samples"].get<int64_t>()),
        flow_(options(config)) {
    flow_->to(setup_.device, setup_.dtype);
    setup_.shard.check(batch_, "batch");
  }

  StepMetrics gradients(int64_t iteration) override {
    // The batch is a function of (seed, iteration) alone, so a resumed run sees the same data.
    auto x = setup_.shard.of(data::sample_toy(toy_, batch_, setup_.seed * 1000003 + uint64_t(iteration), setup_.dtype))
                 .to(setup_.device);
    auto out = flow_->forward(x);
    auto loss = -out.log_prob.mean() + out.penalty;
    loss.backward();
    const auto stats = out.stats();
    return {loss.item<double>(), stats.nfe, stats.nfe_backward};
  }

  Json evaluate() override {
    torch::NoGradGuard no_grad;
    auto held_out = data::sample_toy(toy_, eval_samples_, setup_.seed + 777777, setup_.dtype).to(setup_.device);
    Json result = {{"nll", -flow_->log_prob(held_out).mean().item<double>()},
                   {"data", data::toy_name(toy_)},
                   {"held_out_samples", eval_samples_}};
    if (toy_ == data::Toy::EightGaussians)
      result["true_nll"] = -data::eight_gaussians_log_density(held_out.to(torch::kFloat64)).mean().item<double>();
    return result;
  }

  Headline headline() const override { return {"nll", true}; }
  Table sample(const SampleRequest& request) override {
    return table_of_draws(flow_->sample(request.n), request, "cnf");
  }

  std::vector<std::string> write_outputs(const std::string& directory) override {
    save_density_picture(flow_, data::sample_toy(toy_, 4000, setup_.seed + 1),
                         std::string("FFJORD, ") + data::toy_name(toy_), directory + "/density.png");
    return {"density.png"};
  }

  torch::nn::Module& model() override { return *flow_; }

 private:
  static cnf::CNFOptions options(const Json& c) {
    auto options = cnf::CNFOptions(2)
                       .hidden(c["hidden"].get<std::vector<int64_t>>())
                       .activation(core::parse_activation(c["activation"].get<std::string>()))
                       .end_time(c["end_time"].get<double>())
                       .trace(core::parse_trace_estimator(c["trace"].get<std::string>()))
                       .solver(solve_options_of(c));
    const double kinetic = c["kinetic"].get<double>(), jacobian = c["jacobian"].get<double>();
    if (kinetic > 0 || jacobian > 0) options.regularize(reg::RNODE(kinetic, jacobian));
    return options;
  }

  Setup setup_;
  data::Toy toy_;
  int64_t batch_, eval_samples_;
  cnf::CNF flow_;
};

}  // namespace

Schema cnf_schema() {
  return with_common_settings(
      {
          {"data", "8gaussians", "toy density", data::toy_names()},
          {"batch", 512, "samples per iteration", {}, {}, 1},
          {"hidden", Json::array({64, 64, 64}), "hidden widths of the concat-squash field", {}, 0.0},
          {"activation", "tanh", "activation of the field", core::activation_names()},
          {"end_time", 1.0, "integration time T", {}, 0.0},
          {"trace", "hutchinson", "trace estimator in training", core::trace_estimator_names()},
          {"method", "dopri5", "ODE method", ode::method_names()},
          {"rtol", 1e-5, "relative tolerance", {}, 0.0},
          {"atol", 1e-5, "absolute tolerance", {}, 0.0},
          {"gradient", "direct", "gradients through the solver", ode::gradient_names()},
          {"kinetic", 0.0, "RNODE lambda_K (0: off)", {}, {}, 0.0},
          {"jacobian", 0.0, "RNODE lambda_J (0: off)", {}, {}, 0.0},
          {"eval_samples", 20000, "held-out samples of eval", {}, {}, 1},
      },
      1500, {{"lr", 3e-3}, {"lr_schedule", "cosine"}, {"lr_end", 0.0}});
}

std::unique_ptr<Task> make_cnf_task(const Json& config, const Setup& setup) {
  return std::make_unique<CNFTask>(config, setup);
}

}  // namespace deepdyn::cli
