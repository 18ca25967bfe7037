// deepdyn: deep learning as dynamical systems, from the command line.
#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <c10/util/Logging.h>
#include <deepdyn/core/memory.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "commands.h"

namespace {

// Errors are one line: "deepdyn: error: <what went wrong and what to do>", with the rank in front
// in a data-parallel process
int fail(std::string message) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  // (the process-group errors of the library name the rank themselves).
  const char* rank = std::getenv("RANK");
  const bool named = message.rfind("rank ", 0) == 0;
  const std::string who =
      rank != nullptr && std::getenv("WORLD_SIZE") != nullptr && !named ? std::string("[rank ") + rank + "] " : "";
  std::fprintf(stderr, "deepdyn: error: %s%s\n", who.c_str(), message.c_str());
  return 1;
}

// c10d logs a failed connection to stderr before it throws it; fail() says it once, in one line.
void keep_library_logs_quiet() {
#ifdef C10_USE_GLOG
  FLAGS_minloglevel = google::GLOG_FATAL;
#else
  FLAGS_caffe2_log_level = c10::GLOG_FATAL;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = deepdyn::cli;
  deepdyn::core::keep_freed_memory();  // training iterations reuse their pages
  keep_library_logs_quiet();
  CLI::App app("deepdyn: Neural ODEs, Deep Equilibrium Models, FFJORD, ODE2VAE and RNODE on LibTorch", "deepdyn");
  app.require_subcommand(1);
  cli::GlobalOptions global;
  global.command_line.assign(argv, argv + argc);
  app.add_option("--threads", global.threads, "Intra-op threads of LibTorch")->capture_default_str();
  app.add_option("--seed", global.seed, "Seed of every random stream")
      ->check(CLI::Validator(  // else "-1" reads as 2^64 - 1
          [](std::string& text) { return text.rfind('-', 0) == 0 ? "must be >= 0, got " + text : std::string(); },
          "NONNEGATIVE"))
      ->capture_default_str();
  app.add_option("--device", global.device, "cpu or cuda")->capture_default_str();
  std::function<int()> action;
  cli::add_train_commands(app, global, action);
  cli::add_solve_command(app, global, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    return fail(std::string(e.what()) + "; run with --help for the valid arguments");
  }
  try {
    return action();
  } catch (const c10::Error& e) {
    return fail(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
