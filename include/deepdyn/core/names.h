#pragma once
// The names users write (config, command line, Python) for the values of an enum or of a
// std::variant of option structs: one table per type, one error wording for all of them.
#include <c10/util/Exception.h>

#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace deepdyn::core {

namespace detail {
template <class T>
struct is_variant : std::false_type {};
template <class... Ts>
struct is_variant<std::variant<Ts...>> : std::true_type {};
}  // namespace detail

/// (name, value) pairs in the order users see them. A std::variant matches on its alternative
/// (index()), so an alternative with any settings has its alternative's name, and parsing gives it
/// with default settings.
template <class T>
class NameTable {
 public:
  /// `what` names the kind of value in errors, e.g. "ODE method". Names must be unique.
  NameTable(std::string what, std::vector<std::pair<std::string, T>> entries) : what_(std::move(what)) {
    for (auto& [name, value] : entries) {
      TORCH_CHECK(std::find(names_.begin(), names_.end(), name) == names_.end(), what_, " '", name, "' is named twice");
      names_.push_back(std::move(name));
      values_.push_back(std::move(value));
    }
  }

  /// The value named `name`; otherwise "unknown <what> '<name>': valid names are a, b, c".
  const T& parse(const std::string& name) const {
    const auto found = std::find(names_.begin(), names_.end(), name);
    if (found != names_.end()) return values_[found - names_.begin()];
    std::string valid;
    for (const auto& n : names_) valid += (valid.empty() ? "" : ", ") + n;
    TORCH_CHECK(false, "unknown ", what_, " '", name, "': valid names are ", valid);
  }

  const std::string& name_of(const T& value) const {
    static_assert(std::is_enum_v<T> || detail::is_variant<T>::value, "name_of needs an enum or a std::variant");
    for (size_t i = 0; i < values_.size(); ++i)
      if (key(values_[i]) == key(value)) return names_[i];
    TORCH_CHECK(false, what_, " value ", key(value), " has no name");
  }

  /// Every name, in order (config choices, --help).
  const std::vector<std::string>& names() const { return names_; }

 private:
  static long long key(const T& value) {
    if constexpr (detail::is_variant<T>::value)
      return static_cast<long long>(value.index());
    else
      return static_cast<long long>(value);
  }

  std::string what_;
  std::vector<std::string> names_;
  std::vector<T> values_;
};

}  // namespace deepdyn::core
