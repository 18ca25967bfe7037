// deepdyn train cnf: FFJORD, optionally with RNODE's regularizers, on a 2-D toy density or on
// points of any dimension from a file (data/points.h). File data are standardised by their
// training part's mean and standard deviation; the transform is part of the model's state (so
// checkpoints keep it), log-densities and samples are given in the data's own units.
#include <deepdyn/data/points.h>
#include <deepdyn/deepdyn.h>
#include <deepdyn/io/arrays.h>

#include <cmath>

#include "figure.h"
#include "task.h"

namespace deepdyn::cli {
namespace {

constexpr double kToyExtent = 4.0;

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

/// The task's data: a toy density to draw from, or a file's points split into training and
/// held-out parts.
struct CNFData {
  std::optional<data::Toy> toy;
  std::string name;
  data::Points train, held_out;  // file data only

  static CNFData of(const std::string& name, double holdout) {
    CNFData d;
    d.name = name;
    const auto& toys = data::toy_names();
    if (std::find(toys.begin(), toys.end(), name) != toys.end()) {
      d.toy = data::parse_toy(name);
      return d;
    }
    TORCH_CHECK(io::has_extension(name, ".csv") || io::has_extension(name, ".npy") || io::has_extension(name, ".pt"),
                "config key 'data' must be a toy density (", joined(toys), ") or a points file ending in .csv, .npy ",
                "or .pt, got '", name, "'");
    auto points = data::read_points(name);
    const auto n = points.x.size(0);
    const auto held = std::llround(holdout * double(n));
    TORCH_CHECK(held >= 1 && n - held >= 2, "points file '", name, "' has ", n, " points: holdout = ", holdout,
                " must leave one or more held out and two or more to train on");
    const auto [train, held_out] = fixed_split(n, held);
    d.held_out = {points.x.index_select(0, held_out), points.names};
    d.train = {points.x.index_select(0, train), points.names};
    return d;
  }
  int64_t dim() const { return toy ? 2 : train.x.size(1); }
  std::vector<std::string> names() const { return toy ? std::vector<std::string>{"x1", "x2"} : train.names; }
};

class CNFTask : public Task {
 public:
  CNFTask(const Json& config, const Setup& setup)
      : setup_(setup),
        data_(CNFData::of(config["data"].get<std::string>(), config["holdout"].get<double>())),
        batch_(config["batch"].get<int64_t>()),
        eval_samples_(config["eval_samples"].get<int64_t>()),
        flow_(options(config, data_.dim())) {
    if (!data_.toy) {  // part of the model's state: checkpoints keep the transform of the run
      const auto [shift, scale] = core::standardization(data_.train.x);
      flow_->register_buffer("data_shift", shift);
      flow_->register_buffer("data_scale", scale);
    }
    flow_->to(setup_.device, setup_.dtype);
    shift_ = data_.toy ? torch::zeros({2}, setup_.options()) : flow_->named_buffers()["data_shift"];
    scale_ = data_.toy ? torch::ones({2}, setup_.options()) : flow_->named_buffers()["data_scale"];
    setup_.shard.check(batch_, "batch");
  }

  StepMetrics gradients(int64_t iteration) override {
    // The batch is a function of (seed, iteration) alone, so a resumed run sees the same data.
    const auto seed = setup_.seed * 1000003 + uint64_t(iteration);
    torch::Tensor x;
    if (data_.toy) {
      x = data::sample_toy(*data_.toy, batch_, seed, setup_.dtype);
    } else {
      const auto rows =
          torch::randint(data_.train.x.size(0), {batch_}, iteration_generator(setup_.seed, iteration), torch::kLong);
      x = data_.train.x.index_select(0, rows);
    }
    auto out = flow_->forward(standardized(setup_.shard.of(x)));
    auto loss = -out.log_prob.mean() + out.penalty;
    loss.backward();
    const auto stats = out.stats();
    return {loss.item<double>(), stats.nfe, stats.nfe_backward};
  }

  Json evaluate() override {
    torch::NoGradGuard no_grad;
    const auto held_out =
        data_.toy ? data::sample_toy(*data_.toy, eval_samples_, setup_.seed + 777777, setup_.dtype) : data_.held_out.x;
    const double nll = -log_density(held_out).mean().item<double>();
    Json result = {{"nll", nll},
                   {"bits_per_dim", nll / (double(data_.dim()) * std::log(2.0))},
                   {"data", data_.name},
                   {"held_out_samples", held_out.size(0)}};
    if (data_.toy == data::Toy::EightGaussians)
      result["true_nll"] = -data::eight_gaussians_log_density(held_out.to(torch::kFloat64)).mean().item<double>();
    return result;
  }

  Headline headline() const override { return {"nll", true}; }

  Table sample(const SampleRequest& request) override {
    auto table = table_of_draws(draw(request.n), request, "cnf");
    table.header = data_.names();
    return table;
  }

  std::vector<std::string> write_outputs(const std::string& directory) override {
    torch::NoGradGuard no_grad;
    const auto data = data_.toy ? data::sample_toy(*data_.toy, 4000, setup_.seed + 1, torch::kFloat64)
                                : data_.train.x.narrow(0, 0, std::min<int64_t>(4000, data_.train.x.size(0)));
    const auto title = std::string("FFJORD, ") + (data_.toy ? data_.name : "d = " + std::to_string(data_.dim()));
    if (data_.dim() == 2)
      save_density_picture(data, title, directory + "/density.png");
    else
      save_pairs_picture(data, title, directory + "/pairs.png");
    return {data_.dim() == 2 ? "density.png" : "pairs.png"};
  }

  torch::nn::Module& model() override { return *flow_; }

 private:
  static cnf::CNFOptions options(const Json& c, int64_t dim) {
    auto options = cnf::CNFOptions(dim)
                       .hidden(c["hidden"].get<std::vector<int64_t>>())
                       .activation(core::parse_activation(c["activation"].get<std::string>()))
                       .end_time(c["end_time"].get<double>())
                       .trace(core::parse_trace_estimator(c["trace"].get<std::string>()))
                       .solver(solve_options_of(c));
    const double kinetic = c["kinetic"].get<double>(), jacobian = c["jacobian"].get<double>();
    if (kinetic > 0 || jacobian > 0) options.regularize(reg::RNODE(kinetic, jacobian));
    return options;
  }

  torch::Tensor standardized(const torch::Tensor& x) const { return (x.to(setup_.options()) - shift_) / scale_; }

  /// log p(x) in the data's units (exact trace), in chunks that bound the memory.
  torch::Tensor log_density(const torch::Tensor& x) {
    const double log_det = -scale_.log().sum().item<double>();
    std::vector<torch::Tensor> parts;
    for (const auto& chunk : x.split(4096)) parts.push_back(flow_->log_prob(standardized(chunk)).cpu() + log_det);
    return torch::cat(parts).to(torch::kFloat64);
  }

  /// n draws from the flow in the data's units.
  torch::Tensor draw(int64_t n) { return (flow_->sample(n) * scale_ + shift_).to(torch::kFloat64).cpu(); }

  /// The axes of the data's first two dimensions: [-4, 4]^2 for a toy, else the data's range
  /// widened by a tenth on each side.
  std::array<double, 4> extent(const torch::Tensor& data) const {
    if (data_.toy) return {-kToyExtent, kToyExtent, -kToyExtent, kToyExtent};
    const auto lo = data.amin(0), hi = data.amax(0), margin = 0.1 * (hi - lo);
    return {(lo - margin)[0].item<double>(), (hi + margin)[0].item<double>(), (lo - margin)[1].item<double>(),
            (hi + margin)[1].item<double>()};
  }

  /// FFJORD's figure of a 2-D flow: its density with a colour bar, beside samples from the model
  /// and from the data, on the same axes.
  void save_density_picture(const torch::Tensor& data, const std::string& title, const std::string& path) {
    const int pixels = 240;
    const auto e = extent(data);
    const auto xs = torch::linspace(e[0], e[1], pixels, torch::kFloat64),
               ys = torch::linspace(e[2], e[3], pixels, torch::kFloat64);
    const auto mesh = torch::meshgrid({ys, xs}, "ij");  // [y index, x index]
    const auto grid = torch::stack({mesh[1].flatten(), mesh[0].flatten()}, 1);
    const auto density = log_density(grid).exp().reshape({pixels, pixels});
    const auto samples = draw(4000);
    const auto names = data_.names();
    Figure figure(1260, 420, 3, 1);
    figure.panel(0)
        .title(title + ": learned density")
        .labels(names[0], names[1])
        .equal_aspect()
        .image(density, e, "p(x)");
    const std::pair<const char*, torch::Tensor> scatters[] = {{"samples from the model", samples}, {"data", data}};
    for (int k = 0; k < 2; ++k)
      figure.panel(k + 1)
          .title(scatters[k].first)
          .labels(names[0], names[1])
          .equal_aspect()
          .limits(e[0], e[1], e[2], e[3])
          .points(scatters[k].second.select(1, 0), scatters[k].second.select(1, 1), {30, 60, 200});
    figure.save_png(path);
  }

  /// Pairs of the first three dimensions (the first for d = 1 against the point's index): data
  /// and samples from the model in one panel each.
  void save_pairs_picture(const torch::Tensor& data, const std::string& title, const std::string& path) {
    const auto samples = draw(data.size(0));
    const auto names = data_.names();
    std::vector<std::pair<int64_t, int64_t>> pairs;
    if (data_.dim() == 1)
      pairs = {{-1, 0}};
    else
      for (int64_t i = 0; i < std::min<int64_t>(data_.dim(), 3); ++i)
        for (int64_t j = i + 1; j < std::min<int64_t>(data_.dim(), 3); ++j) pairs.push_back({i, j});
    Figure figure(420 * int(pairs.size()), 420, int(pairs.size()), 1);
    const auto index = torch::arange(data.size(0), torch::kFloat64);
    for (size_t p = 0; p < pairs.size(); ++p) {
      const auto [i, j] = pairs[p];
      const auto x = [&](const torch::Tensor& v) { return i < 0 ? index : v.select(1, i); };
      figure.panel(int(p))
          .title(p == 0 ? title : "")
          .labels(i < 0 ? "point" : names[i], names[j])
          .points(x(samples), samples.select(1, j), {30, 60, 200}, "model")
          .points(x(data), data.select(1, j), {40, 160, 60}, "data");
    }
    figure.save_png(path);
  }

  Setup setup_;
  CNFData data_;
  int64_t batch_, eval_samples_;
  cnf::CNF flow_;
  torch::Tensor shift_, scale_;  // x = shift + scale * z, on the model's device and dtype
};

}  // namespace

Schema cnf_schema() {
  return with_common_settings(
      {
          {"data", "8gaussians",
           "a toy density (" + joined(data::toy_names()) +
               ") or a points file: .csv with a header naming the d columns, or .npy/.pt holding [n, d]"},
          {"holdout", 0.2, "fraction of a points file held out for evaluation", {}, 0.0, {}, 1.0},
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
          {"eval_samples", 20000, "held-out samples of eval on a toy density", {}, {}, 1},
      },
      1500, {{"lr", 3e-3}, {"lr_schedule", "cosine"}, {"lr_end", 0.0}});
}

std::unique_ptr<Task> make_cnf_task(const Json& config, const Setup& setup) {
  return std::make_unique<CNFTask>(config, setup);
}

}  // namespace deepdyn::cli
