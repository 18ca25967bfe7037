#pragma once
// The subcommands of the deepdyn binary. Each registers its options on the app and, when chosen,
// sets `action` to the work it does (run after parsing, so parse errors never start work).
#include <CLI/CLI.hpp>
#include <functional>

#include "common.h"

namespace deepdyn::cli {

/// The action returns the process's exit status.
void add_solve_command(CLI::App& app, const GlobalOptions& global, std::function<int()>& action);
void add_train_commands(CLI::App& app, const GlobalOptions& global, std::function<int()>& action);

}  // namespace deepdyn::cli
