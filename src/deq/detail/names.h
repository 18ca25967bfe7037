#pragma once
// Parsing the boundary's strings into the deq layer's variants of option structs.
#include <torch/torch.h>

#include <initializer_list>
#include <string>

namespace deepdyn::deq::detail {

/// The alternative (with default settings) whose name is `name`; otherwise an error that lists
/// the valid names.
template <class Variant>
Variant parse_by_name(const std::string& name, std::initializer_list<Variant> alternatives,
                      const char* (*name_of)(const Variant&), const char* what) {
  std::string valid;
  for (const auto& alternative : alternatives) {
    if (name == name_of(alternative)) return alternative;
    valid += (valid.empty() ? "" : ", ") + std::string(name_of(alternative));
  }
  TORCH_CHECK(false, "unknown ", what, " '", name, "': valid names are ", valid);
}

}  // namespace deepdyn::deq::detail
