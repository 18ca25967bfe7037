#include "run_directory.h"

#include <deepdyn/io/image.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace deepdyn::cli {
namespace fs = std::filesystem;
namespace {

std::vector<uint8_t> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

Json read_json(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  TORCH_CHECK(in.good(), "cannot read ", what, " '", path, "'");
  auto value = Json::parse(in, nullptr, false);
  TORCH_CHECK(!value.is_discarded(), what, " '", path, "' is not valid JSON (the file is damaged)");
  return value;
}

}  // namespace

RunDirectory RunDirectory::create(const std::string& path, const RunInfo& info, const Json& config) {
  TORCH_CHECK(!fs::exists(path) || (fs::is_directory(path) && fs::is_empty(path)), "the run directory '", path,
              "' already exists and is not empty; choose another --out, or continue it with deepdyn resume ", path);
  std::error_code error;
  fs::create_directories(path, error);
  TORCH_CHECK(!error, "cannot create the run directory '", path, "': ", error.message());
  RunDirectory run(path);
  run.write_json("run.json", Json{{"model", info.model}, {"seed", info.seed}, {"threads", info.threads},
                                  {"device", info.device}, {"processes", info.processes}});
  run.write_json("config.json", config);
  return run;
}

RunDirectory RunDirectory::open(const std::string& path) {
  TORCH_CHECK(fs::is_directory(path), "'", path, "' is not a directory; give the run directory deepdyn train wrote");
  TORCH_CHECK(fs::exists(path + "/run.json") && fs::exists(path + "/config.json"), "'", path,
              "' is not a deepdyn run directory (no run.json and config.json)");
  return RunDirectory(path);
}

RunInfo RunDirectory::info() const {
  auto j = read_json(file("run.json"), "the run file");
  TORCH_CHECK(j.is_object() && j.contains("model") && j.contains("seed"), "the run file '", file("run.json"),
              "' lacks model or seed");
  return {j["model"].get<std::string>(), j["seed"].get<uint64_t>(), j.value("threads", 1),
          j.value("device", std::string("cpu")), j.value("processes", int64_t(1))};
}

Json RunDirectory::config() const { return read_json(file("config.json"), "the config file"); }

bool RunDirectory::complete() const { return fs::exists(file("summary.json")); }

void RunDirectory::append_metrics(const Json& line) const {
  std::ofstream out(file("metrics.jsonl"), std::ios::app);
  TORCH_CHECK(out.good(), "cannot append to '", file("metrics.jsonl"), "'");
  out << line.dump() << "\n";
}

Json RunDirectory::read_metrics() const {
  Json lines = Json::array();
  std::ifstream in(file("metrics.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    auto value = Json::parse(line, nullptr, false);
    if (!value.is_discarded()) lines.push_back(value);  // a line cut by a crash is dropped
  }
  return lines;
}

void RunDirectory::truncate_metrics(int64_t iteration) const {
  std::string kept;
  for (const auto& line : read_metrics())
    if (line["iteration"].get<int64_t>() <= iteration) kept += line.dump() + "\n";
  io::write_file_atomically(file("metrics.jsonl"), bytes_of(kept));
}

void RunDirectory::write_json(const std::string& name, const Json& value) const {
  io::write_file_atomically(file(name), bytes_of(value.dump(2) + "\n"));
}

void RunDirectory::save_checkpoint(Task& task, int64_t iteration) const {
  torch::serialize::OutputArchive archive, model, optimizer;
  task.model().save(model);
  task.optimizer().save(optimizer);
  archive.write("model", model);
  archive.write("optimizer", optimizer);
  archive.write("iteration", torch::tensor(iteration));
  std::ostringstream stream;
  archive.save_to(stream);
  io::write_file_atomically(file("checkpoint.pt"), bytes_of(stream.str()));
}

std::string RunDirectory::read_checkpoint() const {
  const auto path = file("checkpoint.pt");
  TORCH_CHECK(fs::exists(path), "'", path_, "' has no checkpoint.pt: the run stopped before its first checkpoint; ",
              "start it again with deepdyn train");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  TORCH_CHECK(in.good() || in.eof(), "cannot read '", path, "'");
  return bytes.str();
}

int64_t RunDirectory::restore_checkpoint(Task& task, const std::string& bytes, const std::string& origin) {
  try {
    torch::serialize::InputArchive archive, model, optimizer;
    archive.load_from(bytes.data(), bytes.size());
    archive.read("model", model);
    archive.read("optimizer", optimizer);
    task.model().load(model);
    task.optimizer().load(optimizer);
    torch::Tensor iteration;
    archive.read("iteration", iteration);
    return iteration.item<int64_t>();
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "the checkpoint '", origin, "' is unreadable (damaged, or from another model or config): ",
                e.msg().substr(0, e.msg().find('\n')));
  }
}

}  // namespace deepdyn::cli
