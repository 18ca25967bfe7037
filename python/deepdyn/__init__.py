"""deepdyn: Neural ODE solvers with a C++ (LibTorch) core, on ordinary torch.Tensors.

    import torch, deepdyn
    ys = deepdyn.odeint(func, y0, t, rtol=1e-7, atol=1e-9, method="dopri5")   # as torchdiffeq.odeint
    sol = deepdyn.solve(func, y0, t)                                          # ys and the solver's stats
    sol.stats.nfe, sol.stats.steps, sol.stats.rejected, sol.stats.nfe_backward

func is an nn.Module or any callable func(t, y) -> dy/dt; y0 a tensor or a tuple of tensors.
Gradients reach y0, t and func's parameters by autograd through the solver ("direct", default),
the continuous adjoint ("adjoint": O(1) memory in the steps) or checkpoints ("checkpointed").
"""
from typing import NamedTuple, Optional, Sequence, Union

import torch  # loads LibTorch before the extension that links against it

from . import _deepdyn

__all__ = ["odeint", "solve", "Solution", "Stats", "methods", "keep_freed_memory"]

Stats = _deepdyn.Stats
keep_freed_memory = _deepdyn.keep_freed_memory
State = Union[torch.Tensor, Sequence[torch.Tensor]]

# torchdiffeq's option names -> ours (torchdiffeq: step_t, jump_t, first_step, step_size, max_num_steps,
# norm).
_OPTIONS = ("step_size", "first_step", "step_t", "jump_t", "max_num_steps", "norm")
# The error norms by name. torchdiffeq's default, the largest RMS of one component of a tuple state
# (the RMS of the whole state for a single tensor), is ours too, so a ported model takes its steps.
_NORMS = ("max_component_rms", "rms")


class Solution(NamedTuple):
    ys: State  # [len(t), *y0.shape], or one such tensor per component of a tuple state
    stats: Stats  # filled in further by backward (nfe_backward, steps_backward)


def methods():
    """The method names solve() and odeint() accept."""
    return list(_deepdyn.method_names())


def _times(values) -> list:
    if values is None:
        return []
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().double().reshape(-1).tolist()
    return [float(v) for v in values]


def _tolerances(value) -> list:
    return [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]


def solve(func, y0: State, t: torch.Tensor, rtol=1e-7, atol=1e-9, method: Optional[str] = None,
          options: Optional[dict] = None, gradient: str = "direct", adjoint_params=None) -> Solution:
    """Integrates dy/dt = func(t, y) from y(t[0]) = y0 and returns y at every t, with the stats.

    rtol/atol: one value, or one per component of a tuple state. method: "dopri5" (default), any of
    methods(). options: step_size, first_step, step_t, jump_t, max_num_steps, and norm:
    "max_component_rms" (default, torchdiffeq's) or "rms" (over the whole tuple). gradient: "direct",
    "adjoint" or "checkpointed"; the latter two differentiate adjoint_params (default: func's
    parameters when func is an nn.Module).
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}: valid ones are {list(_OPTIONS)}")
    norm = options.get("norm", _NORMS[0])
    if norm not in _NORMS:
        raise ValueError(f"options['norm'] must be one of {list(_NORMS)}, got {norm!r} (functions are not "
                         "supported: the norm runs in C++)")
    if adjoint_params is None:
        adjoint_params = func.parameters() if isinstance(func, torch.nn.Module) else ()
    settings = _deepdyn.Settings(
        method=method or "dopri5", gradient=gradient, rtol=_tolerances(rtol), atol=_tolerances(atol),
        step_size=options.get("step_size"), first_step=options.get("first_step"),
        step_t=_times(options.get("step_t")), jump_t=_times(options.get("jump_t")),
        max_steps=int(options.get("max_num_steps", 100000)), max_component_rms=norm == _NORMS[0],
        params=list(adjoint_params))
    if isinstance(y0, torch.Tensor):
        ys, stats = _deepdyn.solve(func, y0, t, settings)
    else:
        ys, stats = _deepdyn.solve_tuple(func, list(y0), t, settings)
    return Solution(ys, stats)


def odeint(func, y0: State, t: torch.Tensor, rtol=1e-7, atol=1e-9, method: Optional[str] = None,
           options: Optional[dict] = None, **kwargs) -> State:
    """torchdiffeq.odeint's signature: y at every t ([len(t), *y0.shape], or a tuple)."""
    return solve(func, y0, t, rtol=rtol, atol=atol, method=method, options=options, **kwargs).ys
