// Low-order embedded pairs.
// heun_euler: Heun's method with Euler's method embedded (order 2(1)).
// fehlberg2: Fehlberg (1969), "Low-order classical Runge-Kutta formulas with
//   stepsize control", NASA TR R-315, the RKF1(2) pair; like torchdiffeq we
//   propagate the order-2 solution.
// bosh3: Bogacki & Shampine (1989), "A 3(2) pair of Runge-Kutta formulas",
//   Appl. Math. Lett. 2(4); first-same-as-last.
#include "tableaus.h"

namespace deepdyn::ode::tableaus {

const ButcherTableau& heun_euler() {
  static const ButcherTableau t{2, 1, {0.0, 1.0}, {{}, {1.0}}, {0.5, 0.5}, {0.5 - 1.0, 0.5}, {}};
  return t;
}

const ButcherTableau& fehlberg2() {
  static const ButcherTableau t{2,
                                1,
                                {0.0, 0.5, 1.0},
                                {{}, {0.5}, {1.0 / 256, 255.0 / 256}},
                                {1.0 / 512, 255.0 / 256, 1.0 / 512},
                                {1.0 / 512 - 1.0 / 256, 0.0, 1.0 / 512},
                                {}};
  return t;
}

const ButcherTableau& bosh3() {
  static const ButcherTableau t{3,
                                2,
                                {0.0, 0.5, 0.75, 1.0},
                                {{}, {0.5}, {0.0, 0.75}, {2.0 / 9, 1.0 / 3, 4.0 / 9}},
                                {2.0 / 9, 1.0 / 3, 4.0 / 9, 0.0},
                                {2.0 / 9 - 7.0 / 24, 1.0 / 3 - 0.25, 4.0 / 9 - 1.0 / 3, -1.0 / 8},
                                {}};
  return t;
}

}  // namespace deepdyn::ode::tableaus
