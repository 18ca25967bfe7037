// Classical explicit Runge–Kutta methods without error estimate.
// References: Butcher, "Numerical Methods for ODEs" (2016), §23 and §32;
// Kutta (1901) for rk4 and the 3/8 rule; Heun (1900); Ralston (1962),
// "Runge-Kutta methods with minimum error bounds", Math. Comp. 16.
#include "tableaus.h"

namespace deepdyn::ode::tableaus {

const ButcherTableau& euler() {
  static const ButcherTableau t{1, 0, {0.0}, {{}}, {1.0}, {}, {}};
  return t;
}

const ButcherTableau& midpoint() {
  static const ButcherTableau t{2, 0, {0.0, 0.5}, {{}, {0.5}}, {0.0, 1.0}, {}, {}};
  return t;
}

const ButcherTableau& heun2() {
  static const ButcherTableau t{2, 0, {0.0, 1.0}, {{}, {1.0}}, {0.5, 0.5}, {}, {}};
  return t;
}

const ButcherTableau& heun3() {
  static const ButcherTableau t{3,  0, {0.0, 1.0 / 3, 2.0 / 3}, {{}, {1.0 / 3}, {0.0, 2.0 / 3}}, {0.25, 0.0, 0.75},
                                {}, {}};
  return t;
}

const ButcherTableau& ralston() {
  static const ButcherTableau t{2, 0, {0.0, 2.0 / 3}, {{}, {2.0 / 3}}, {0.25, 0.75}, {}, {}};
  return t;
}

const ButcherTableau& rk4() {
  static const ButcherTableau t{
      4,  0, {0.0, 0.5, 0.5, 1.0}, {{}, {0.5}, {0.0, 0.5}, {0.0, 0.0, 1.0}}, {1.0 / 6, 1.0 / 3, 1.0 / 3, 1.0 / 6},
      {}, {}};
  return t;
}

const ButcherTableau& rk38() {
  static const ButcherTableau t{4,
                                0,
                                {0.0, 1.0 / 3, 2.0 / 3, 1.0},
                                {{}, {1.0 / 3}, {-1.0 / 3, 1.0}, {1.0, -1.0, 1.0}},
                                {1.0 / 8, 3.0 / 8, 3.0 / 8, 1.0 / 8},
                                {},
                                {}};
  return t;
}

}  // namespace deepdyn::ode::tableaus
