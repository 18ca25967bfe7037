#include "run_directory.h"

#include <deepdyn/io/files.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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
  const bool replaces = holds_run_without_checkpoint(path);
  TORCH_CHECK(!fs::exists(path) || (fs::is_directory(path) && fs::is_empty(path)) || replaces, "the run directory '",
              path, "' already exists and is not empty; choose another --out, or continue it with deepdyn resume ",
              path);
  std::error_code error;
  fs::create_directories(path, error);
  TORCH_CHECK(!error, "cannot create the run directory '", path, "': ", error.message());
  RunDirectory run(path);
  run.lock_for_writing();
  if (replaces) fs::remove(run.file("metrics.jsonl"));
  run.write_json("run.json", Json{{"model", info.model}, {"seed", info.seed}, {"threads", info.threads},
                                  {"device", info.device}, {"processes", info.processes}});
  run.write_json("config.json", config);
  return run;
}

bool RunDirectory::holds_run_without_checkpoint(const std::string& path) {
  RunDirectory run(path);
  return fs::exists(run.file("run.json")) && fs::exists(run.file("config.json")) && !run.has_checkpoint() &&
         !run.complete();
}

void RunDirectory::lock_for_writing() {
  const int descriptor = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TORCH_CHECK(descriptor >= 0, "cannot open the run directory '", path_, "': ", std::strerror(errno));
  lock_ = std::shared_ptr<const int>(new int(descriptor), [](const int* fd) {
    ::close(*fd);  // releases the lock
    delete fd;
  });
  TORCH_CHECK(::flock(descriptor, LOCK_EX | LOCK_NB) == 0, "another deepdyn process is writing to the run directory '",
              path_, "' (a train or resume of it is running); wait for it to end or stop it, then run this again");
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

bool RunDirectory::has_checkpoint() const { return fs::exists(file("checkpoint.pt")); }

void RunDirectory::append_metrics(const Json& line) const {
  std::ofstream out(file("metrics.jsonl"), std::ios::app);
  TORCH_CHECK(out.good(), "cannot append to '", file("metrics.jsonl"), "'");
  out << line.dump() << "\n";
}

namespace {

// {"iteration": 12, "loss": 2.5, "nfe_forward": 80, "nfe_backward": 150, "time": 1.2}; a NaN loss
// is written as null.
bool is_metrics_line(const Json& line) {
  auto has = [&](const char* key, bool nullable) {
    return line.contains(key) && (line[key].is_number() || (nullable && line[key].is_null()));
  };
  return line.is_object() && line.contains("iteration") && line["iteration"].is_number_integer() &&
         has("loss", true) && has("nfe_forward", false) && has("nfe_backward", false) && has("time", false);
}

}  // namespace

Json RunDirectory::read_metrics() const {
  std::vector<std::string> text;
  std::ifstream in(file("metrics.jsonl"));
  for (std::string line; std::getline(in, line);) text.push_back(line);
  Json lines = Json::array();
  for (size_t i = 0; i < text.size(); ++i) {
    auto value = Json::parse(text[i], nullptr, false);
    if (value.is_discarded() && i + 1 == text.size()) break;  // the last line, cut by a crash
    TORCH_CHECK(!value.is_discarded() && is_metrics_line(value), "line ", i + 1, " of '", file("metrics.jsonl"),
                "' is not a metrics line (an object with integer iteration and numbers loss, nfe_forward, "
                "nfe_backward, time), got: ", text[i].substr(0, 80), "; restore or delete that line and run again");
    lines.push_back(value);
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

std::string RunDirectory::read_checkpoint() const {
  const auto path = file("checkpoint.pt");
  TORCH_CHECK(fs::exists(path), "'", path_, "' has no checkpoint.pt: the run stopped before its first checkpoint, so ",
              "there is no trained model yet; train it with deepdyn resume ", path_);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  TORCH_CHECK(in.good() || in.eof(), "cannot read '", path, "'");
  return bytes.str();
}

}  // namespace deepdyn::cli
