#include "config.h"

#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace deepdyn::cli {
namespace {

const Setting* find(const Schema& schema, const std::string& key) {
  for (const auto& s : schema)
    if (s.key == key) return &s;
  return nullptr;
}

std::string valid_keys(const Schema& schema) {
  std::string out;
  for (const auto& s : schema) out += (out.empty() ? "" : ", ") + s.key;
  return out;
}

std::string type_name(const Json& value) {
  if (value.is_boolean()) return "true or false";
  if (value.is_number_integer()) return "an integer (at most 9223372036854775807)";
  if (value.is_number()) return "a number";
  if (value.is_array()) return "a list of integers (at most 9223372036854775807)";
  return "a string";
}

// An integer that an int64 holds: JSON reads 18446744073709551615 as unsigned, and as int64 it is -1.
bool is_int64(const Json& value) {
  return value.is_number_integer() &&
         (!value.is_number_unsigned() || value.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max()));
}

bool same_type(const Json& expected, const Json& value) {
  if (expected.is_boolean()) return value.is_boolean();
  if (expected.is_number_integer()) return is_int64(value);
  if (expected.is_number()) return value.is_number();
  if (expected.is_array()) {
    if (!value.is_array() || value.empty()) return false;
    for (const auto& v : value)
      if (!is_int64(v)) return false;
    return true;
  }
  return value.is_string();
}

void check_value(const Setting& s, const Json& value) {
  TORCH_CHECK(same_type(s.value, value), "config key '", s.key, "' must be ", type_name(s.value), ", got ", value.dump());
  if (!s.choices.empty()) {
    bool valid = false;
    std::string list;
    for (const auto& c : s.choices) {
      valid = valid || value.get<std::string>() == c;
      list += (list.empty() ? "" : ", ") + c;
    }
    TORCH_CHECK(valid, "config key '", s.key, "' must be one of ", list, "; got ", value.dump());
  }
  auto check_number = [&](double v) {
    TORCH_CHECK(!s.above || v > *s.above, "config key '", s.key, "' must be > ", *s.above, ", got ", value.dump());
    TORCH_CHECK(!s.at_least || v >= *s.at_least, "config key '", s.key, "' must be >= ", *s.at_least, ", got ",
                value.dump());
    TORCH_CHECK(!s.below || v < *s.below, "config key '", s.key, "' must be < ", *s.below, ", got ", value.dump());
  };
  if (value.is_number()) check_number(value.get<double>());
  if (value.is_array())
    for (const auto& v : value) check_number(v.get<double>());
}

// A --set value, read as the key's type: "0.01", "3", "true", "64,64", "8gaussians".
Json parse_override(const Setting& s, const std::string& text) {
  if (s.value.is_string()) return text;
  if (s.value.is_array()) {
    Json list = Json::array();
    std::stringstream items(text);
    std::string item;
    while (std::getline(items, item, ',')) list.push_back(Json::parse(item, nullptr, false));
    return list;
  }
  auto parsed = Json::parse(text, nullptr, false);
  TORCH_CHECK(!parsed.is_discarded(), "config key '", s.key, "' must be ", type_name(s.value), ", got '", text, "'");
  return parsed;
}

}  // namespace

void check_config(const Schema& schema, const Json& config) {
  TORCH_CHECK(config.is_object(), "a config must be a JSON object of key: value pairs, got ", config.type_name());
  for (const auto& [key, value] : config.items()) {
    const auto* s = find(schema, key);
    TORCH_CHECK(s != nullptr, "unknown config key '", key, "'; valid keys are: ", valid_keys(schema));
    check_value(*s, value);
  }
}

Json resolve_config(const Schema& schema, const std::string& config_file, const std::vector<std::string>& overrides) {
  Json config = Json::object();
  for (const auto& s : schema) config[s.key] = s.value;
  if (!config_file.empty()) {
    TORCH_CHECK(!std::filesystem::is_directory(config_file), "the config file '", config_file,
                "' is a directory; give a JSON file such as {\"iterations\": 100}");
    std::ifstream in(config_file);
    TORCH_CHECK(in.good(), "cannot read the config file '", config_file, "'");
    auto file = Json::parse(in, nullptr, false);
    TORCH_CHECK(!file.is_discarded(), "the config file '", config_file,
                "' is not valid JSON (expected an object such as {\"iterations\": 100})");
    check_config(schema, file);
    for (const auto& [key, value] : file.items()) config[key] = value;
  }
  for (const auto& assignment : overrides) {
    const auto eq = assignment.find('=');
    TORCH_CHECK(eq != std::string::npos && eq > 0, "--set expects key=value, got '", assignment, "'");
    const std::string key = assignment.substr(0, eq);
    const auto* s = find(schema, key);
    TORCH_CHECK(s != nullptr, "unknown config key '", key, "'; valid keys are: ", valid_keys(schema));
    auto value = parse_override(*s, assignment.substr(eq + 1));
    check_value(*s, value);
    config[key] = value;
  }
  return config;
}

std::string describe(const Schema& schema) {
  std::string out;
  for (const auto& s : schema) {
    out += "  " + s.key + " (" + s.value.dump() + "): " + s.help;
    if (!s.choices.empty()) {
      out += " [";
      for (size_t i = 0; i < s.choices.size(); ++i) out += (i ? "|" : "") + s.choices[i];
      out += "]";
    }
    out += "\n";
  }
  return out;
}

}  // namespace deepdyn::cli
