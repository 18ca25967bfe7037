#include "deepdyn/ode/tableau.h"

#include <torch/torch.h>

#include "deepdyn/core/names.h"
#include "ode/tableaus/tableaus.h"

namespace deepdyn::ode {
namespace {

struct MethodEntry {
  Method method;
  std::string name;
  const ButcherTableau& (*tableau)();
};

const std::vector<MethodEntry>& registry() {
  static const std::vector<MethodEntry> entries = {
      {Method::Euler, "euler", tableaus::euler},
      {Method::Midpoint, "midpoint", tableaus::midpoint},
      {Method::Heun2, "heun2", tableaus::heun2},
      {Method::Heun3, "heun3", tableaus::heun3},
      {Method::Ralston, "ralston", tableaus::ralston},
      {Method::RK4, "rk4", tableaus::rk4},
      {Method::RK38, "rk4_38", tableaus::rk38},
      {Method::HeunEuler, "heun_euler", tableaus::heun_euler},
      {Method::Fehlberg2, "fehlberg2", tableaus::fehlberg2},
      {Method::Bosh3, "bosh3", tableaus::bosh3},
      {Method::Dopri5, "dopri5", tableaus::dopri5},
      {Method::Tsit5, "tsit5", tableaus::tsit5},
      {Method::Dopri8, "dopri8", tableaus::dopri8},
      {Method::Kvaerno3, "kvaerno3", tableaus::kvaerno3},
      {Method::Kvaerno5, "kvaerno5", tableaus::kvaerno5},
  };
  return entries;
}

const MethodEntry& entry(Method method) {
  for (const auto& e : registry())
    if (e.method == method) return e;
  TORCH_CHECK(false, "unknown ode::Method value ", static_cast<int>(method));
}

const core::NameTable<Method>& names() {
  static const core::NameTable<Method> table("ODE method", [] {
    std::vector<std::pair<std::string, Method>> entries;
    for (const auto& e : registry()) entries.emplace_back(e.name, e.method);
    return entries;
  }());
  return table;
}

}  // namespace

namespace tableaus {
std::vector<double> difference(const std::vector<double>& b, const std::vector<double>& b_embedded) {
  std::vector<double> d(b.size());
  for (size_t i = 0; i < b.size(); ++i) d[i] = b[i] - b_embedded[i];
  return d;
}

std::vector<double> multiply(const std::vector<double>& p, const std::vector<double>& q) {
  std::vector<double> r(p.size() + q.size() - 1, 0.0);
  for (size_t i = 0; i < p.size(); ++i)
    for (size_t j = 0; j < q.size(); ++j) r[i + j] += p[i] * q[j];
  return r;
}

std::vector<std::vector<double>> quartic_extension(const std::vector<double>& b, const std::vector<double>& b_mid) {
  // p(x) = y0 + g0 x + c2 x^2 + c3 x^3 + c4 x^4 with g = h k; solving the five conditions gives
  //   c2 = -11 y0 - 5 y1 + 16 y_mid - 4 g0 + g1,  c3 = 18 y0 + 14 y1 - 32 y_mid + 5 g0 - 3 g1,
  //   c4 = -8 y0 - 8 y1 + 16 y_mid - 2 g0 + 2 g1; the y0 terms cancel once y1, y_mid are expanded.
  const size_t s = b.size();
  std::vector<std::vector<double>> w(s, std::vector<double>(5, 0.0));
  for (size_t i = 0; i < s; ++i) {
    const double first = i == 0 ? 1.0 : 0.0, last = i + 1 == s ? 1.0 : 0.0;
    w[i][1] = first;
    w[i][2] = -5 * b[i] + 16 * b_mid[i] - 4 * first + last;
    w[i][3] = 14 * b[i] - 32 * b_mid[i] + 5 * first - 3 * last;
    w[i][4] = -8 * b[i] + 16 * b_mid[i] - 2 * first + 2 * last;
  }
  return w;
}

}  // namespace tableaus

const std::vector<Method>& all_methods() {
  static const std::vector<Method> methods = [] {
    std::vector<Method> m;
    for (const auto& e : registry()) m.push_back(e.method);
    return m;
  }();
  return methods;
}

const std::vector<std::string>& method_names() { return names().names(); }

const std::string& method_name(Method method) { return names().name_of(method); }

Method parse_method(const std::string& name) { return names().parse(name); }

bool is_adaptive(Method method) { return tableau(method).embedded(); }

bool is_implicit(Method method) { return tableau(method).implicit(); }

const ButcherTableau& tableau(Method method) { return entry(method).tableau(); }

bool ButcherTableau::fsal() const {
  const auto& last = a.back();
  if (c.back() != 1.0 || last.size() + 1 != b.size() || b.back() != gamma) return false;
  for (size_t j = 0; j < last.size(); ++j)
    if (last[j] != b[j]) return false;
  return true;
}

}  // namespace deepdyn::ode
