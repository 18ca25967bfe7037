"""Deep equilibrium models on deepdyn's C++ fixed-point solvers (TorchDEQ-like).

    result = deepdyn.deq.fixed_point(f, z0, method="broyden", tol=1e-6)   # z = f(z), no gradient
    layer = deepdyn.deq.DEQ(cell)                                         # cell(z, x) an nn.Module
    out = layer(x, z0)                                                    # out.z = f(z*, x)
    loss(out.z).backward()                                                # implicit differentiation

Methods: "broyden" (memory, line_search), "anderson" (memory, beta, lam), "picard" (damping). The
stopping rule is per sample: ||f(z) - z|| / ||f(z)|| <= tol ("relative", default) or ||f(z) - z|| <= tol
("absolute"). A solve that stops early returns its best iterate; its stats say how it ended.
"""
from typing import NamedTuple, Optional

import torch

from . import _deepdyn

__all__ = ["fixed_point", "FixedPoint", "DEQ", "Equilibrium", "methods"]

# The settings each method takes (deepdyn::deq::Picard, Anderson, Broyden).
_METHOD_OPTIONS = {"picard": ("damping",), "anderson": ("memory", "beta", "lam"), "broyden": ("memory", "line_search")}


def methods():
    """The fixed-point method names."""
    return list(_deepdyn.fixed_point_method_names())


class FixedPoint(NamedTuple):
    z: torch.Tensor  # per sample, the iterate with the smallest residual seen
    stats: _deepdyn.Stats  # nfe, steps (iterations), termination, message
    residual: torch.Tensor  # [batch] ||f(z) - z||
    relative_residual: torch.Tensor  # [batch] ||f(z) - z|| / ||f(z)||


class Equilibrium(NamedTuple):
    z: torch.Tensor  # f(z*, x), on the graph of x and f's parameters
    stats: _deepdyn.Stats  # the forward solve; nfe_backward/steps_backward once the implicit backward ran
    residual: torch.Tensor
    relative_residual: torch.Tensor
    jacobian_frobenius: Optional[torch.Tensor]  # [batch] Hutchinson estimate of ||J_f(z*)||_F^2, if asked for


def _settings(method: str, tol: float, max_iter: int, stop_on: str, method_options: dict) -> _deepdyn.FixedPointSettings:
    if method not in _METHOD_OPTIONS:
        raise ValueError(f"unknown fixed-point method {method!r}: valid ones are {methods()}")
    unknown = sorted(set(method_options) - set(_METHOD_OPTIONS[method]))
    if unknown:
        raise ValueError(f"{method} takes no option(s) {unknown}; its options are {list(_METHOD_OPTIONS[method])}")
    s = _deepdyn.FixedPointSettings()
    s.method, s.tol, s.max_iter, s.stop_on = method, float(tol), int(max_iter), stop_on
    for name, value in method_options.items():
        setattr(s, name, value)
    return s


def fixed_point(f, z0: torch.Tensor, method: str = "broyden", tol: float = 1e-6, max_iter: int = 50,
                stop_on: str = "relative", **method_options) -> FixedPoint:
    """Solves z = f(z) from z0 (dimension 0 indexes independent samples) under the caller's grad mode.
    f: a callable f(z) -> Tensor, or a TorchScript module (runs in C++ alone)."""
    z, stats, absolute, relative = _deepdyn.fixed_point(f, z0, _settings(method, tol, max_iter, stop_on, method_options))
    return FixedPoint(z, stats, absolute, relative)


class DEQ(torch.nn.Module):
    """A deep equilibrium layer z* = f(z*, x) (Bai, Kolter & Koltun 2019). The forward solve runs without
    a graph; f is applied once more at z* with grad, and the gradient flows through it as `gradient` says:
    "implicit" (default: dL/dz (I - J_f)^{-1} by a second fixed-point solve, backward_method and its
    settings), "jacobian_free" (Fung et al. 2022) or "phantom" (Geng et al. 2021: phantom_steps damped
    steps with phantom_tau). jacobian_probes > 0 also estimates ||J_f(z*)||_F^2 for a regularizer.
    f: an nn.Module f(z, x) (registered, so its parameters are the layer's) or a TorchScript module."""

    def __init__(self, f, method: str = "broyden", tol: float = 1e-4, max_iter: int = 50, stop_on: str = "relative",
                 gradient: str = "implicit", backward_method: str = "broyden", backward_tol: float = 1e-6,
                 backward_max_iter: int = 50, phantom_steps: int = 5, phantom_tau: float = 0.5,
                 jacobian_probes: int = 0, method_options: Optional[dict] = None,
                 backward_method_options: Optional[dict] = None):
        super().__init__()
        self.f = f
        self.settings = _deepdyn.DEQSettings()
        self.settings.forward = _settings(method, tol, max_iter, stop_on, dict(method_options or {}))
        self.settings.backward = _settings(backward_method, backward_tol, backward_max_iter, stop_on,
                                           dict(backward_method_options or {}))
        backwards = list(_deepdyn.deq_backward_names())
        if gradient not in backwards:
            raise ValueError(f"unknown DEQ gradient {gradient!r}: valid ones are {backwards}")
        self.settings.gradient = gradient
        self.settings.phantom_steps, self.settings.phantom_tau = int(phantom_steps), float(phantom_tau)
        self.settings.jacobian_probes = int(jacobian_probes)

    def forward(self, x: torch.Tensor, z0: torch.Tensor) -> Equilibrium:
        """z0 is the initial guess; it fixes the state's shape (batch first)."""
        return Equilibrium(*_deepdyn.equilibrium(self.f, x, z0, self.settings))
