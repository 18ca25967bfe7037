#pragma once
#include <string>
#include <vector>

namespace deepdyn::ode {

/// Explicit Runge–Kutta methods. The first group integrates on a fixed grid;
/// the second carries an embedded error estimate and adapts its step.
enum class Method {
  // fixed grid
  Euler,
  Midpoint,
  Heun2,
  Heun3,
  Ralston,
  RK4,
  RK38,
  // adaptive (embedded pairs)
  HeunEuler,
  Fehlberg2,
  Bosh3,
  Dopri5,
  Tsit5,
  Dopri8,
};

/// Every method, in declaration order.
const std::vector<Method>& all_methods();

/// The names users write ("euler", ..., "dopri5", ...), in the order of all_methods().
const std::vector<std::string>& method_names();
const std::string& method_name(Method method);
/// Parses one of method_names(); an unknown name is refused with the valid list.
Method parse_method(const std::string& name);

/// True for methods with an embedded error estimate (they adapt the step size).
bool is_adaptive(Method method);

}  // namespace deepdyn::ode
