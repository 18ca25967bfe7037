// Dormand & Prince (1980), "A family of embedded Runge-Kutta formulae",
// J. Comp. Appl. Math. 6(1): the 5(4) pair, first-same-as-last, propagating
// the order-5 solution. Dense output is Shampine's quartic continuous extension
// (Shampine 1986, "Some practical Runge-Kutta formulas", Math. Comp. 46), built
// from its mid-step weights as in Hairer's DOPRI5 and torchdiffeq. The error is estimated
// against Shampine's (1986) order-4 companion b* = (1951/21600, 0, 22642/50085, 451/720,
// -12231/42400, 649/6300, 1/60), which uses the FSAL stage, as torchdiffeq and diffrax do (not
// Dormand & Prince's b^ = (5179/57600, ..., 1/40), whose larger estimate costs about 8% more steps
// at the same tolerance): the same tolerance then means the same steps in all three.
#include "tableaus.h"

namespace deepdyn::ode::tableaus {

const ButcherTableau& dopri5() {
  static const std::vector<double> b = {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84, 0.0};
  static const std::vector<double> b_mid = {6025192743.0 / 30085553152 / 2,     0.0,
                                            51252292925.0 / 65400821598 / 2,    -2691868925.0 / 45128329728 / 2,
                                            187940372067.0 / 1594534317056 / 2, -1776094331.0 / 19743644256 / 2,
                                            11237099.0 / 235043384 / 2};
  static const ButcherTableau t{
      5,
      4,
      {0.0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1.0, 1.0},
      {{},
       {1.0 / 5},
       {3.0 / 40, 9.0 / 40},
       {44.0 / 45, -56.0 / 15, 32.0 / 9},
       {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
       {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
       {35.0 / 384, 0.0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84}},
      b,
      {35.0 / 384 - 1951.0 / 21600, 0.0, 500.0 / 1113 - 22642.0 / 50085, 125.0 / 192 - 451.0 / 720,
       -2187.0 / 6784 + 12231.0 / 42400, 11.0 / 84 - 649.0 / 6300, -1.0 / 60},
      quartic_extension(b, b_mid)};
  return t;
}

}  // namespace deepdyn::ode::tableaus
