"""ODE solves with torchdiffeq's signatures on deepdyn's C++ solvers."""
from typing import NamedTuple, Optional, Sequence, Union

import torch

from . import _deepdyn

State = Union[torch.Tensor, Sequence[torch.Tensor]]

# torchdiffeq's option names (ours in SolveSettings where they differ: max_num_steps -> max_steps).
_OPTIONS = ("step_size", "first_step", "step_t", "jump_t", "max_num_steps", "norm")
# The error norms by name. torchdiffeq's default, the largest RMS of one component of a tuple state
# (the RMS of the whole state for a single tensor), is ours too, so a ported model takes its steps.
_NORMS = ("max_component_rms", "rms")
# What torchdiffeq's adjoint_options may hold here: the backward solve's norm.
_ADJOINT_NORMS = ("full", "seminorm")


class Crossing(NamedTuple):
    t: torch.Tensor  # 0-d event time, differentiable (implicit function theorem)
    y: torch.Tensor  # the state at t, differentiable
    index: int  # which element of event_fn's value crossed zero


class Solution(NamedTuple):
    ys: State  # [len(t), *y0.shape], or one such tensor per component of a tuple state
    stats: _deepdyn.Stats  # filled in further by backward (nfe_backward, steps_backward)
    events: tuple = ()  # the Crossings of event_fn, in time order


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


def _scalar(name, value) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or (isinstance(value, torch.Tensor) and value.numel() != 1):
        raise ValueError(f"{name} must be one number (the adjoint solve has one tolerance), got {value!r}")
    return float(value)


def settings(rtol=1e-7, atol=1e-9, method: Optional[str] = None, options: Optional[dict] = None,
             gradient: str = "direct", params=(), adjoint_rtol=None, adjoint_atol=None,
             adjoint_method: Optional[str] = None, adjoint_options: Optional[dict] = None) -> _deepdyn.SolveSettings:
    """The C++ solver settings from torchdiffeq-style arguments (see solve()); bad ones are refused."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown}: valid ones are {list(_OPTIONS)}")
    norm = options.get("norm", _NORMS[0])
    if norm not in _NORMS:
        raise ValueError(f"options['norm'] must be one of {list(_NORMS)}, got {norm!r} (functions are not "
                         "supported: the norm runs in C++)")
    adjoint_options = dict(adjoint_options or {})
    unknown = sorted(set(adjoint_options) - {"norm"})
    if unknown:
        raise ValueError(f"unknown adjoint option(s) {unknown}: the only one is 'norm' "
                         f"({' or '.join(_ADJOINT_NORMS)}); the adjoint solve takes its other settings from "
                         "adjoint_rtol, adjoint_atol and adjoint_method")
    adjoint_norm = adjoint_options.get("norm", "full")
    if adjoint_norm not in _ADJOINT_NORMS:
        raise ValueError(f"adjoint_options['norm'] must be one of {list(_ADJOINT_NORMS)}, got {adjoint_norm!r}")
    adjoint_set = [n for n, v in (("adjoint_rtol", adjoint_rtol), ("adjoint_atol", adjoint_atol),
                                  ("adjoint_method", adjoint_method), ("adjoint_options", adjoint_options or None))
                   if v is not None]
    if adjoint_set and gradient != "adjoint":
        raise ValueError(f"{', '.join(adjoint_set)} set the adjoint's backward solve, but gradient is {gradient!r}: "
                         "use odeint_adjoint or gradient='adjoint'")
    s = _deepdyn.SolveSettings()
    s.method = method or "dopri5"
    s.gradient = gradient
    s.rtol, s.atol = _tolerances(rtol), _tolerances(atol)
    s.step_size, s.first_step = options.get("step_size"), options.get("first_step")
    s.step_t, s.jump_t = _times(options.get("step_t")), _times(options.get("jump_t"))
    s.max_steps = int(options.get("max_num_steps", 100000))
    s.max_component_rms = norm == _NORMS[0]
    s.params = list(params)
    s.adjoint_rtol, s.adjoint_atol = _scalar("adjoint_rtol", adjoint_rtol), _scalar("adjoint_atol", adjoint_atol)
    s.adjoint_method = adjoint_method
    s.adjoint_seminorm = adjoint_norm == "seminorm"
    return s


def default_params(func, adjoint_params):
    """What the adjoint and checkpointed gradients differentiate: adjoint_params, else func's parameters."""
    if adjoint_params is not None:
        return list(adjoint_params)
    return list(func.parameters()) if isinstance(func, torch.nn.Module) else []


def solve(func, y0: State, t: torch.Tensor, rtol=1e-7, atol=1e-9, method: Optional[str] = None,
          options: Optional[dict] = None, gradient: str = "direct", adjoint_params=None, event_fn=None,
          event_terminal: bool = True, event_direction: int = 0, **adjoint) -> Solution:
    """Integrates dy/dt = func(t, y) from y(t[0]) = y0 and returns y at every t, with the stats.

    func: an nn.Module or any callable func(t, y) -> dy/dt, with t a 0-d tensor; a TorchScript
    module (torch.jit.script(module)) runs the whole solve in C++ (tensor states).
    rtol/atol: one value, or one per component of a tuple state. method: "dopri5" (default), any of
    methods(). options: step_size, first_step, step_t, jump_t, max_num_steps, and norm:
    "max_component_rms" (default, torchdiffeq's) or "rms" (over the whole tuple). gradient: "direct",
    "adjoint" or "checkpointed"; the latter two differentiate adjoint_params (default: func's
    parameters when func is an nn.Module). With gradient="adjoint": adjoint_rtol, adjoint_atol,
    adjoint_method, adjoint_options={"norm": "seminorm"} (default: the forward's settings, full norm).
    event_fn(t, y): a tensor whose elements' crossings of zero are events (tensor states), found on
    each step's dense output; event_terminal stops the solve at the first (later outputs hold the state
    there), otherwise every crossing is recorded; event_direction: +1 rising, -1 falling, 0 both.
    """
    s = settings(rtol, atol, method, options, gradient, default_params(func, adjoint_params), **adjoint)
    if isinstance(y0, torch.Tensor):
        ys, stats, events = _deepdyn.solve(func, y0, t, s, event_fn, event_terminal, int(event_direction))
        return Solution(ys, stats, tuple(Crossing(*e) for e in events))
    if event_fn is not None:
        raise ValueError("events need a tensor state: concatenate the tuple's components into one tensor")
    ys, stats = _deepdyn.solve_tuple(func, list(y0), t, s)
    return Solution(ys, stats)


def odeint(func, y0: State, t: torch.Tensor, rtol=1e-7, atol=1e-9, method: Optional[str] = None,
           options: Optional[dict] = None, **kwargs) -> State:
    """torchdiffeq.odeint's signature: y at every t ([len(t), *y0.shape], or a tuple). kwargs: those of
    solve(), e.g. gradient="checkpointed"."""
    return solve(func, y0, t, rtol=rtol, atol=atol, method=method, options=options, **kwargs).ys


def odeint_adjoint(func, y0: State, t: torch.Tensor, rtol=1e-7, atol=1e-9, method: Optional[str] = None,
                   options: Optional[dict] = None, adjoint_rtol=None, adjoint_atol=None,
                   adjoint_method: Optional[str] = None, adjoint_options: Optional[dict] = None,
                   adjoint_params=None) -> State:
    """torchdiffeq.odeint_adjoint's signature: gradients by the continuous adjoint, O(1) memory in the
    steps. func must be an nn.Module unless adjoint_params names the parameters to differentiate."""
    if adjoint_params is None and not isinstance(func, torch.nn.Module):
        raise ValueError("func must be an nn.Module when adjoint_params is not given: the adjoint needs to know "
                         "which parameters to differentiate (pass adjoint_params=(...), possibly empty)")
    return solve(func, y0, t, rtol=rtol, atol=atol, method=method, options=options, gradient="adjoint",
                 adjoint_params=adjoint_params, adjoint_rtol=adjoint_rtol, adjoint_atol=adjoint_atol,
                 adjoint_method=adjoint_method, adjoint_options=adjoint_options).ys


# How far odeint_event looks for its event: the solve ends there if none comes first (its steps grow
# to the scale of the dynamics, so the distance costs nothing until then).
EVENT_HORIZON = 1e9


def odeint_event(func, y0: torch.Tensor, t0, *, event_fn, reverse_time: bool = False, odeint_interface=None,
                 **kwargs):
    """torchdiffeq.odeint_event: integrates from t0 until event_fn(t, y) first crosses zero and returns
    (event_t, ys) with ys = [y0, y(event_t)]; both differentiable (event_t by the implicit function
    theorem). odeint_interface: odeint (default, direct backprop) or odeint_adjoint. kwargs: those of
    solve() (rtol, atol, method, options, adjoint_params, ...). Raises when no event happens before
    EVENT_HORIZON or the step budget."""
    if odeint_interface not in (None, odeint, odeint_adjoint):
        raise ValueError("odeint_interface must be deepdyn.odeint or deepdyn.odeint_adjoint")
    if odeint_interface is odeint_adjoint:
        kwargs.setdefault("gradient", "adjoint")
    t0 = torch.as_tensor(t0, dtype=torch.float64).reshape(())
    t = torch.stack([t0, t0.detach() + (-EVENT_HORIZON if reverse_time else EVENT_HORIZON)])
    sol = solve(func, y0, t, event_fn=event_fn, event_terminal=True, **kwargs)
    if not sol.events:
        raise RuntimeError(f"odeint_event: event_fn did not cross zero within {EVENT_HORIZON:g} of t0")
    return sol.events[0].t, sol.ys
