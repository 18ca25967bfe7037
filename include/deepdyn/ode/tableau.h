#pragma once
#include <vector>

#include "deepdyn/ode/method.h"

namespace deepdyn::ode {

/// A Runge–Kutta method as data (Butcher, "Numerical Methods for Ordinary Differential Equations",
/// 3rd ed., §23): explicit, or singly diagonally implicit with an explicit first stage (ESDIRK).
/// Stage i is evaluated at
///   t + c[i] h,  z_i = y + h * (sum_{j<i} a[i][j] k_j + gamma k_i)   (gamma = 0: explicit),
/// an implicit stage being the solution z_i of that equation with k_i = f(t + c[i] h, z_i);
/// the step gives y1 = y + h * sum_i b[i] k_i and, for embedded pairs, the
/// error estimate h * sum_i b_error[i] k_i with b_error = b - b_embedded.
struct ButcherTableau {
  int order = 0;                       ///< order of the propagated solution
  int error_order = 0;                 ///< order of the embedded solution; 0 for fixed-grid methods
  std::vector<double> c;               ///< nodes, c[0] == 0
  std::vector<std::vector<double>> a;  ///< a[i] has i entries (a[0] is empty)
  std::vector<double> b;               ///< weights of the propagated solution
  std::vector<double> b_error;         ///< b - b_embedded; empty for fixed-grid methods
  /// The method's continuous extension (dense output): y(t + theta h) = y + h * sum_i b_i(theta) k_i
  /// with b_i(theta) = sum_j b_theta[i][j] theta^j. Empty: outputs use cubic Hermite interpolation.
  std::vector<std::vector<double>> b_theta;
  /// The diagonal a[i][i] of every stage after the first; 0 for explicit methods.
  double gamma = 0;

  int stages() const { return static_cast<int>(c.size()); }
  bool embedded() const { return !b_error.empty(); }
  bool implicit() const { return gamma != 0; }
  /// First-same-as-last: the last stage is f(t + h, y1), so it is the next step's first stage
  /// (its row of a, with gamma, is b).
  bool fsal() const;
};

/// The tableau of a method (static data, one file per family under src/ode/tableaus).
const ButcherTableau& tableau(Method method);

}  // namespace deepdyn::ode
