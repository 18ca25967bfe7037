#include "ode/detail/events.h"

#include <algorithm>
#include <cmath>

namespace deepdyn::ode::detail {

EventLocator::EventLocator(const Event& event, double t0, const torch::Tensor& y0) : event_(event) {
  before_ = values(t0, y0);
  if (event_.rows())
    TORCH_CHECK(y0.dim() >= 1 && static_cast<int64_t>(before_.size()) == y0.size(0),
                "Event::rows(true): the event function must return one value per batch row (", y0.dim() >= 1 ? y0.size(0) : 0,
                " for a state of shape ", y0.sizes(), "), got ", before_.size(), " values");
  fired_.assign(before_.size(), false);
}

std::vector<double> EventLocator::values(double t, const torch::Tensor& y) const {
  torch::NoGradGuard no_grad;
  auto g = event_.fn()(torch::scalar_tensor(t, y.options()), y);
  TORCH_CHECK(g.defined() && g.numel() > 0, "the event function returned no values");
  auto host = g.detach().reshape(-1).to(torch::kCPU, torch::kFloat64).contiguous();  // sync: the signs decide
  return {host.data_ptr<double>(), host.data_ptr<double>() + host.numel()};
}

bool EventLocator::counts(double before, double after) const {
  const bool rising = before < 0 && after >= 0, falling = before > 0 && after <= 0;
  return event_.direction() > 0 ? rising : event_.direction() < 0 ? falling : rising || falling;
}

void EventLocator::after_step(double t0, double t1, const torch::Tensor& y1,
                              const std::function<const StepPolynomial&()>& interpolant) {
  auto after = values(t1, y1);
  std::vector<size_t> crossing;
  for (size_t e = 0; e < after.size(); ++e)
    if (!fired_[e] && counts(before_[e], after[e])) crossing.push_back(e);
  if (crossing.empty()) {
    before_ = std::move(after);
    return;
  }
  torch::NoGradGuard no_grad;
  const auto& p = interpolant();
  auto state_at = [&](double t) { return t == t1 ? y1 : p.evaluate({t})[0]; };
  std::vector<EventHit> found;
  for (size_t e : crossing) {
    // Illinois: regula falsi on [a, b], halving the value kept at an end that stays twice.
    double a = t0, b = t1, ga = before_[e], gb = after[e];
    int kept = 0;
    for (int iteration = 0; iteration < 200 && b - a > event_.tol() && gb != 0; ++iteration) {
      const double c = std::clamp(b - gb * (b - a) / (gb - ga), a, b);
      const double gc = values(c, state_at(c))[e];
      if ((gc < 0) == (gb < 0) && gc != 0) {  // the root lies in [a, c]
        b = c, gb = gc;
        if (kept == -1) ga *= 0.5;
        kept = -1;
      } else {
        a = c, ga = gc;
        if (kept == 1) gb *= 0.5;
        kept = 1;
        if (gc == 0) b = c, gb = 0;
      }
    }
    found.push_back({b, static_cast<int64_t>(e), state_at(b)});
  }
  std::sort(found.begin(), found.end(), [](const EventHit& x, const EventHit& y) { return x.t < y.t; });
  if (event_.terminal() && !event_.rows()) {
    hits_.push_back(found.front());  // the first crossing stops the solve
    stopped_ = true;
    return;
  }
  for (auto& hit : found) {
    if (event_.terminal()) fired_[hit.index] = true;
    hits_.push_back(std::move(hit));
  }
  if (event_.terminal()) stopped_ = std::all_of(fired_.begin(), fired_.end(), [](bool f) { return f; });
  before_ = std::move(after);
}

}  // namespace deepdyn::ode::detail
