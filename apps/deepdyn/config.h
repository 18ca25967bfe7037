#pragma once
// Run configurations: every key has a default, a type, a range or a list of choices; a config file
// (JSON) and --set key=value overrides are checked against them before any work starts.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace deepdyn::cli {

using Json = nlohmann::ordered_json;

struct Setting {
  std::string key;
  Json value;  ///< the default; its JSON type is the key's type (integer, number, string, bool, integer array)
  std::string help;
  std::vector<std::string> choices = {};  ///< strings only: the valid values
  std::optional<double> above = {};       ///< numbers (and array entries) must be > this
  std::optional<double> at_least = {};    ///< numbers must be >= this
  std::optional<double> below = {};       ///< numbers must be < this
};

using Schema = std::vector<Setting>;

/// The schema's defaults, overlaid with the JSON object in `config_file` (when not empty), then
/// with each "key=value" of `overrides`. Errors name the key, what was wrong and the valid choices.
Json resolve_config(const Schema& schema, const std::string& config_file, const std::vector<std::string>& overrides);

/// Checks a complete config (e.g. one read back from a run directory) against the schema.
void check_config(const Schema& schema, const Json& config);

/// "key (default): help" lines for --help texts.
std::string describe(const Schema& schema);

}  // namespace deepdyn::cli
