#pragma once
#include <string>
#include <vector>

namespace deepdyn::ode {

/// Runge–Kutta methods. The first group integrates on a fixed grid; the others carry an embedded
/// error estimate and adapt their step. The last group is implicit (ESDIRK, for stiff fields): each
/// stage solves a nonlinear system by Newton's method with the field's Jacobian from autograd.
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
  // adaptive and implicit (ESDIRK pairs)
  Kvaerno3,
  Kvaerno5,
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

/// True for implicit methods (their stages solve nonlinear systems; see NewtonOptions).
bool is_implicit(Method method);

}  // namespace deepdyn::ode
