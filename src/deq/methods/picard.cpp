// Damped Picard iteration z <- z + damping (f(z) - z).
#include "deq/detail/iteration.h"

namespace deepdyn::deq::detail {
namespace {

class PicardIteration : public Iteration {
 public:
  PicardIteration(const Picard& options, FlatMap f) : damping_(options.damping()), f_(std::move(f)) {}

  Iterate step(const Iterate& current) override {
    auto z = damping_ == 1.0 ? current.fz : current.z + damping_ * (current.fz - current.z);
    return {z, f_(z)};
  }

 private:
  double damping_;
  FlatMap f_;
};

}  // namespace

std::unique_ptr<Iteration> make_iteration(const Picard& options, FlatMap f) {
  return std::make_unique<PicardIteration>(options, std::move(f));
}

}  // namespace deepdyn::deq::detail
