#pragma once
// The message of the c10::Error an action throws ("" when it throws none), for tests that check
// what an error says.
#include <c10/util/Exception.h>

#include <functional>
#include <string>

namespace deepdyn::testing {

inline std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const c10::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace deepdyn::testing
