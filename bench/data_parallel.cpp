// Scaling of data-parallel training on this machine: 1 process against 2 processes (one thread
// each, launched like deepdyn --nproc), same total batch, for two models:
//   cnf  FFJORD on 8gaussians, batch 512, 2-64-64-64-2, Hutchinson, dopri5 rtol = atol = 1e-5
//        with the last layer drawn at random so the flow is not the identity
//   deq  the Fashion-MNIST DEQ classifier, batch 128, width 256, Broyden + implicit backward
// Per iteration, on rank 0: compute (forward + backward on the shard), wait (a one-number
// all-reduce: the time until the slowest rank is done), all-reduce (the bucketed gradient
// average), optimizer step. Prints medians over the measured iterations.
//
//   bench_data_parallel [iterations=30] [warmup=3]
#include <deepdyn/deepdyn.h>
#include <deepdyn/deq/classifier.h>
#include <deepdyn/dist/launch.h>
#include <deepdyn/dist/process_group.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace dd = deepdyn;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// A model under test: its module and a function that runs forward + backward on this rank's
// shard of iteration `it`'s batch and returns the forward NFE.
struct Workload {
  std::shared_ptr<torch::nn::Module> module;
  std::function<int64_t(int64_t it, int64_t rank, int64_t ranks)> gradients;
};

Workload cnf_workload() {
  auto flow = dd::cnf::CNF(dd::cnf::CNFOptions(2).hidden({64, 64, 64}).solver(dd::ode::SolveOptions().rtol(1e-5).atol(1e-5)));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : flow->blocks[0]->layers.back()->parameters()) p.copy_(0.3 * torch::randn_like(p));
  }
  return {flow.ptr(), [flow](int64_t it, int64_t rank, int64_t ranks) mutable {
            const int64_t batch = 512, rows = batch / ranks;
            auto x = dd::data::sample_toy(dd::data::Toy::EightGaussians, batch, uint64_t(it)).narrow(0, rank * rows, rows);
            auto out = flow->forward(x);
            (-out.log_prob.mean()).backward();
            return out.stats().nfe;
          }};
}

Workload deq_workload() {
  auto train = dd::data::load_fashion_mnist(dd::data::Split::Train);
  auto images = dd::data::standardize_fashion_mnist(train.images);
  auto labels = train.labels;
  dd::deq::DEQClassifier model(28 * 28, 256, 10);
  return {model.ptr(), [model, images, labels](int64_t it, int64_t rank, int64_t ranks) mutable {
            const int64_t batch = 128, rows = batch / ranks;
            auto generator = at::detail::createCPUGenerator(uint64_t(it));
            auto index = torch::randint(images.size(0), {batch}, generator, torch::kLong).narrow(0, rank * rows, rows);
            auto [logits, out] = model->forward(images.index_select(0, index));
            torch::nn::functional::cross_entropy(logits, labels.index_select(0, index)).backward();
            return out.stats->nfe;
          }};
}

// One process of a run: trains `iterations` + `warmup` iterations, rank 0 writes the medians.
int worker(const std::string& model, int iterations, int warmup, const std::string& result_path) {
  torch::set_num_threads(1);
  torch::manual_seed(0);
  const auto rendezvous = dd::dist::Rendezvous::from_environment();
  std::optional<dd::dist::ProcessGroup> group;
  if (rendezvous && rendezvous->world_size > 1) group = dd::dist::ProcessGroup::join(*rendezvous);
  const int64_t rank = group ? group->rank() : 0, ranks = group ? group->size() : 1;
  auto workload = model == "cnf" ? cnf_workload() : deq_workload();
  torch::optim::Adam optimizer(workload.module->parameters(), torch::optim::AdamOptions(1e-4));
  std::optional<dd::dist::GradientAverager> averager;
  if (group) {
    dd::dist::broadcast_module(*group, *workload.module);
    averager.emplace(*group, workload.module->parameters());
  }
  std::map<std::string, std::vector<double>> times;
  std::vector<double> nfe;
  for (int it = 1; it <= warmup + iterations; ++it) {
    const auto start = Clock::now();
    optimizer.zero_grad();
    const int64_t forward_nfe = workload.gradients(it, rank, ranks);
    const double compute = seconds_since(start);
    double wait = 0, all_reduce = 0;
    if (group) {
      const auto before_wait = Clock::now();
      group->all_reduce_sum({torch::zeros({1})});
      wait = seconds_since(before_wait);
      averager->average();
      all_reduce = averager->last_seconds();
    }
    optimizer.step();
    if (it <= warmup) continue;
    times["iteration"].push_back(seconds_since(start));
    times["compute"].push_back(compute);
    times["wait"].push_back(wait);
    times["allreduce"].push_back(all_reduce);
    times["allreduce_fraction"].push_back(all_reduce / times["iteration"].back());
    nfe.push_back(double(forward_nfe));
  }
  if (rank == 0) {
    std::ofstream out(result_path);
    for (const auto& [name, values] : times) out << name << " " << median(values) << "\n";
    out << "nfe " << median(nfe) << "\n";
    out << "parameters " << [&] {
      int64_t n = 0;
      for (const auto& p : workload.module->parameters()) n += p.numel();
      return n;
    }() << "\n";
  }
  return 0;
}

std::map<std::string, double> read_result(const std::string& path) {
  std::map<std::string, double> out;
  std::ifstream in(path);
  std::string name;
  double value;
  while (in >> name >> value) out[name] = value;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 6 && std::string(argv[1]) == "--worker")
      return worker(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), argv[5]);
    const std::string iterations = argc > 1 ? argv[1] : "30", warmup = argc > 2 ? argv[2] : "3";
    std::printf("%-5s %9s %5s %12s %8s %12s %10s %12s %10s %6s\n", "model", "params", "procs", "s/iteration", "speedup",
                "compute s", "wait s", "all-reduce s", "fraction", "NFE");
    for (const std::string model : {"cnf", "deq"}) {
      double single = 0;
      for (int64_t processes : {1, 2}) {
        const std::string result = "/tmp/bench_data_parallel_" + model + std::to_string(processes) + ".txt";
        const auto launch = dd::dist::launch_local(
            {dd::dist::self_executable(), "--worker", model, iterations, warmup, result}, processes);
        TORCH_CHECK(launch.status == 0, launch.reason);
        auto r = read_result(result);
        if (processes == 1) single = r["iteration"];
        std::printf("%-5s %9.0f %5lld %12.4f %8.2f %12.4f %10.4f %12.5f %9.1f%% %6.0f\n", model.c_str(),
                    r["parameters"], static_cast<long long>(processes), r["iteration"], single / r["iteration"], r["compute"], r["wait"],
                    r["allreduce"], 100 * r["allreduce_fraction"], r["nfe"]);
        std::fflush(stdout);
      }
    }
    return 0;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "%s\n", e.what_without_backtrace());
    return 1;
  }
}
