// Kværnø's ESDIRK pairs: A. Kværnø (2004), "Singly diagonally implicit Runge-Kutta methods with
// an explicit first stage", BIT Numer. Math. 44(3), 489-502. Both are stiffly accurate and
// A- and L-stable: the last stage is the solution, so its derivative is the next step's first
// stage, and the embedded solution is the stage before it.
// kvaerno3: order 3(2), 4 stages, gamma the root of 6g^3 - 18g^2 + 9g - 1 = 0 near 0.436.
// kvaerno5: order 5(4), 7 stages, gamma = 0.26; coefficients as diffrax's (its kvaerno5.py).
#include "tableaus.h"

namespace deepdyn::ode::tableaus {
namespace {

/// A stiffly accurate ESDIRK tableau from its strictly lower rows: c_i = sum_j a_ij + gamma,
/// b = the last row with gamma, the embedded solution the row before it with gamma.
ButcherTableau stiffly_accurate(int order, int error_order, double gamma, std::vector<std::vector<double>> a) {
  ButcherTableau t;
  t.order = order;
  t.error_order = error_order;
  t.gamma = gamma;
  for (const auto& row : a) {
    double sum = row.empty() ? 0.0 : gamma;
    for (double x : row) sum += x;
    t.c.push_back(sum);
  }
  t.b = a.back();
  t.b.push_back(gamma);
  auto embedded = a[a.size() - 2];
  embedded.push_back(gamma);
  embedded.push_back(0.0);
  t.b_error = difference(t.b, embedded);
  t.a = std::move(a);
  return t;
}

}  // namespace

const ButcherTableau& kvaerno3() {
  static const ButcherTableau t = [] {
    const double g = 0.43586652150845899941601945;
    return stiffly_accurate(3, 2, g,
                            {{},
                             {g},
                             {(-4 * g * g + 6 * g - 1) / (4 * g), (-2 * g + 1) / (4 * g)},
                             {(6 * g - 1) / (12 * g), -1 / ((24 * g - 12) * g), (-6 * g * g + 6 * g - 1) / (6 * g - 3)}});
  }();
  return t;
}

const ButcherTableau& kvaerno5() {
  static const ButcherTableau t = stiffly_accurate(
      5, 4, 0.26,
      {{},
       {0.26},
       {0.13, 0.84033320996790809},
       {0.22371961478320505, 0.47675532319799699, -0.06470895363112615},
       {0.16648564323248321, 0.10450018841591720, 0.03631482272098715, -0.13090704451073998},
       {0.13855640231268224, 0.0, -0.04245337201752043, 0.02446657898003141, 0.61943039072480676},
       {0.13659751177640291, 0.0, -0.05496908796538376, -0.04118626728321046, 0.62993304899016403,
        0.06962479448202728}});
  return t;
}

}  // namespace deepdyn::ode::tableaus
