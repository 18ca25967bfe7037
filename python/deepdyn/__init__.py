"""deepdyn: Neural ODEs, deep equilibrium models and continuous normalizing flows with a C++ (LibTorch)
core, on ordinary torch.Tensors.

    import torch, deepdyn
    ys = deepdyn.odeint(func, y0, t, rtol=1e-7, atol=1e-9, method="dopri5")  # as torchdiffeq.odeint
    ys = deepdyn.odeint_adjoint(func, y0, t)                                  # as torchdiffeq.odeint_adjoint
    event_t, ys = deepdyn.odeint_event(func, y0, t0, event_fn=g)              # as torchdiffeq.odeint_event
    sol = deepdyn.solve(func, y0, t)                                          # ys and the solver's stats
    sol.stats.nfe, sol.stats.steps, sol.stats.rejected, sol.stats.nfe_backward

    deepdyn.deq.fixed_point(f, z0, method="broyden")   # z = f(z)
    deepdyn.deq.DEQ(f)(x, z0).z                        # z* = f(z*, x), implicit backward
    deepdyn.cnf.integrate_flow(func, z0)               # FFJORD's change of variables, RNODE's integrals

Functions are nn.Modules or callables. A TorchScript module (torch.jit.script(module)) is the fast
path: the whole solve, forward and backward, runs in C++ without returning to Python.
deepdyn.tanh (torch.ops.deepdyn.tanh, also in TorchScript) and the layer deepdyn.Tanh are torch.tanh
about 8x faster on float32 CPU tensors (within 3 ulp), for the fields' activations.
"""
import torch  # loads LibTorch before the extension that links against it

from . import _deepdyn
from . import cnf, deq
from .ode import Crossing, Solution, methods, odeint, odeint_adjoint, odeint_event, solve

__all__ = ["odeint", "odeint_adjoint", "odeint_event", "solve", "Solution", "Crossing", "Stats", "methods",
           "keep_freed_memory", "tanh", "Tanh", "deq", "cnf"]

Stats = _deepdyn.Stats
keep_freed_memory = _deepdyn.keep_freed_memory
tanh = torch.ops.deepdyn.tanh


class Tanh(torch.nn.Module):
    """torch.nn.Tanh on deepdyn.tanh; scriptable."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.deepdyn.tanh(x)
