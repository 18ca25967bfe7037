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

/// The method's name as users write it ("dopri5", "rk4", ...).
const std::string& method_name(Method method);

/// Parses a name written by a user; an unknown name is refused with the list of valid ones.
Method parse_method(const std::string& name);

/// True for methods with an embedded error estimate (they adapt the step size).
bool is_adaptive(Method method);

}  // namespace deepdyn::ode
