#pragma once
// One function per method; each family's data lives in its own file with its reference.
#include "deepdyn/ode/tableau.h"

namespace deepdyn::ode::tableaus {

/// Element-wise b - b_embedded: the error weights of an embedded pair.
std::vector<double> difference(const std::vector<double>& b, const std::vector<double>& b_embedded);

/// Product of two polynomials given by their coefficients (lowest power first).
std::vector<double> multiply(const std::vector<double>& p, const std::vector<double>& q);

/// The quartic continuous extension of a first-same-as-last method from its mid-step weights:
/// the unique quartic through y0, y1 = y0 + h b.k, y(1/2) = y0 + h b_mid.k with slopes k_0 and
/// k_last at the ends (Shampine 1986). Returns b_theta as in ButcherTableau.
std::vector<std::vector<double>> quartic_extension(const std::vector<double>& b, const std::vector<double>& b_mid);

// fixed_grid.cpp
const ButcherTableau& euler();
const ButcherTableau& midpoint();
const ButcherTableau& heun2();
const ButcherTableau& heun3();
const ButcherTableau& ralston();
const ButcherTableau& rk4();
const ButcherTableau& rk38();
// low_order_pairs.cpp
const ButcherTableau& heun_euler();
const ButcherTableau& fehlberg2();
const ButcherTableau& bosh3();
// dopri5.cpp, tsit5.cpp, dopri8.cpp
const ButcherTableau& dopri5();
const ButcherTableau& tsit5();
const ButcherTableau& dopri8();
// kvaerno.cpp (implicit: ESDIRK)
const ButcherTableau& kvaerno3();
const ButcherTableau& kvaerno5();

}  // namespace deepdyn::ode::tableaus
