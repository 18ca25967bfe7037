"""Continuous normalizing flows (FFJORD, Grathwohl et al. 2019) with RNODE's regularizers (Finlay et al.
2020) on deepdyn's C++ solver.

    flow = deepdyn.cnf.integrate_flow(func, x, t=(0.0, 1.0), trace="hutchinson", regularize=True)
    log_px = deepdyn.cnf.standard_normal_log_density(flow.z) - flow.delta_logp
    loss = -log_px.mean() + 0.01 * flow.kinetic.mean() + 0.01 * flow.jacobian.mean()
"""
from typing import NamedTuple, Optional

import torch

from . import _deepdyn
from .ode import default_params, settings

__all__ = ["integrate_flow", "Flow", "standard_normal_log_density"]

standard_normal_log_density = _deepdyn.standard_normal_log_density


class Flow(NamedTuple):
    z: torch.Tensor  # [batch, dim] at t[1]
    delta_logp: torch.Tensor  # [batch] the integral of -tr(df/dz): log p(z(t1)) = log p(z(t0)) + delta_logp
    kinetic: Optional[torch.Tensor]  # [batch] the integral of ||f||^2 (regularize=True)
    jacobian: Optional[torch.Tensor]  # [batch] the integral of ||e^T df/dz||^2 (||df/dz||_F^2 with the exact trace)
    stats: _deepdyn.Stats


def integrate_flow(func, z0: torch.Tensor, t=(0.0, 1.0), trace: str = "hutchinson", noise: str = "gaussian",
                   regularize: bool = False, rtol=1e-5, atol=1e-5, method: Optional[str] = None,
                   options: Optional[dict] = None, gradient: str = "direct", adjoint_params=None, **adjoint) -> Flow:
    """Integrates d/dt [z, log p] = [func(t, z), -tr(dfunc/dz)] (Chen et al. 2018, Theorem 1) over t = (t0, t1).

    z0: [batch, dim]. trace: "exact" (one derivative per dimension) or "hutchinson" (one noise vector e per
    solve, "gaussian" or "rademacher"). regularize: also integrate RNODE's kinetic energy and Jacobian
    Frobenius norm. t may be a tensor that requires grad (a learned end time). The solver arguments are
    solve()'s."""
    ts = t if isinstance(t, torch.Tensor) else torch.tensor([float(v) for v in t], dtype=torch.float64)
    s = settings(rtol, atol, method, options, gradient, default_params(func, adjoint_params), **adjoint)
    return Flow(*_deepdyn.integrate_flow(func, z0, ts, trace, noise, regularize, s))
