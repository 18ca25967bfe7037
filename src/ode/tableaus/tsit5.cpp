// Tsitouras (2011), "Runge-Kutta pairs of order 5(4) satisfying only the
// first column simplifying assumption", Comput. Math. Appl. 62(2): the 5(4)
// pair, first-same-as-last, propagating the order-5 solution, with the
// paper's quartic continuous extension b_i(theta) for dense output.

#include "tableaus.h"

namespace deepdyn::ode::tableaus {
namespace {

// Tsitouras' interpolation polynomials b_i(theta) (§4 of the paper), in factored form.
std::vector<std::vector<double>> continuous_extension() {
  auto scaled = [](double c, std::vector<double> p) {
    for (auto& x : p) x *= c;
    return p;
  };
  const std::vector<double> theta = {0.0, 1.0}, theta2 = {0.0, 0.0, 1.0};
  auto root = [](double r) { return std::vector<double>{-r, 1.0}; };                   // theta - r
  auto quadratic = [](double p, double q) { return std::vector<double>{q, p, 1.0}; };  // theta^2 + p theta + q
  return {
      scaled(-1.0530884977290216,
             multiply(multiply(theta, root(1.3299890189751412)), quadratic(-1.4364028541716351, 0.7139816917074209))),
      scaled(0.1017, multiply(theta2, quadratic(-2.1966568338249754, 1.2949852507374631))),
      scaled(2.490627285651252793, multiply(theta2, quadratic(-2.38535645472061657, 1.57803468208092486))),
      scaled(-16.54810288924490272, multiply(multiply(root(1.21712927295533244), root(0.61620406037800089)), theta2)),
      scaled(47.37952196281928122, multiply(multiply(root(1.203071208372362603), root(0.658047292653547382)), theta2)),
      scaled(-34.87065786149660974, multiply(multiply(root(1.2), root(2.0 / 3)), theta2)),
      scaled(2.5, multiply(multiply(root(1.0), root(0.6)), theta2)),
  };
}

}  // namespace

const ButcherTableau& tsit5() {
  static const std::vector<double> b = {0.09646076681806522951816731316512876,
                                        0.01,
                                        0.4798896504144995747752495322905965,
                                        1.379008574103741893192274821856873,
                                        -3.290069515436080679901047585711364,
                                        2.324710524099773982415355918398766,
                                        0.0};
  static const std::vector<double> b_embedded = {0.09468075576583945807478876255758923,
                                                 0.009183565540343253096776363936645314,
                                                 0.4877705284247615707855642599631228,
                                                 1.234297566930478985655109673884238,
                                                 -2.707712349983525454881109975059322,
                                                 1.866628418170587035753719399566211,
                                                 1.0 / 66};
  static const ButcherTableau t{
      5,
      4,
      {0.0, 0.161, 0.327, 0.9, 0.9800255409045096857298102862870246, 1.0, 1.0},
      {{},
       {0.161},
       {-0.008480655492356988544426874250230775, 0.3354806554923569885444268742502308},
       {2.897153057105493432130432594192939, -6.359448489975074843148159912383826, 4.362295432869581411017727318190887},
       {5.325864828439256604428877920840511, -11.74888356406282787774717033978577, 7.495539342889836208304604784564358,
        -0.09249506636175524925650207933207192},
       {5.861455442946420028659251486982648, -12.92096931784710929170611868178336, 8.159367898576158643180400794539253,
        -0.07158497328140099722453054252582974, -0.02826905039406838290900305721271224},
       {b.begin(), b.end() - 1}},
      b,
      difference(b, b_embedded),
      continuous_extension()};
  return t;
}

}  // namespace deepdyn::ode::tableaus
