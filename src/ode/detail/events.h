#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "deepdyn/ode/options.h"
#include "ode/detail/interpolation.h"

namespace deepdyn::ode::detail {

/// A located zero crossing, in the integrator's time.
struct EventHit {
  double t;
  int64_t index;    ///< element of the event function's value
  torch::Tensor y;  ///< the whole state at t (no graph)
};

/// Watches an Event along an integration: after each accepted step it compares the signs of the
/// event function at both ends and locates each crossing on the step's interpolant by the
/// Illinois method (a regula falsi that halves the weight of a stale end; Dowell & Jarratt 1971).
/// A sign change and back within one step goes unseen, as in scipy's and torchdiffeq's events.
/// One host synchronisation per step (the signs), one per root-finding iteration.
class EventLocator {
 public:
  EventLocator(const Event& event, double t0, const torch::Tensor& y0);

  /// After an accepted step from t0 to t1; `interpolant` gives the step's dense output.
  void after_step(double t0, double t1, const torch::Tensor& y1,
                  const std::function<const StepPolynomial&()>& interpolant);
  /// A terminal event has fired (for every row, with Event::rows): the integration ends here.
  bool stopped() const { return stopped_; }
  /// The crossings so far, in time order.
  const std::vector<EventHit>& hits() const { return hits_; }

 private:
  std::vector<double> values(double t, const torch::Tensor& y) const;
  bool counts(double before, double after) const;

  Event event_;
  std::vector<double> before_;  ///< the event function at the start of the current step
  std::vector<bool> fired_;     ///< rows (or events) already stopped by a terminal event
  bool stopped_ = false;
  std::vector<EventHit> hits_;
};

}  // namespace deepdyn::ode::detail
