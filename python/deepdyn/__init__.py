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
about 8x faster on float32 CPU tensors (within 3 ulp), for the fields' activations; deepdyn.mlp and
deepdyn.MLP run a whole multilayer perceptron as one autograd node on fused kernels.
"""
from typing import List

import torch  # loads LibTorch before the extension that links against it

from . import _deepdyn
from . import cnf, deq
from .ode import Crossing, Solution, methods, odeint, odeint_adjoint, odeint_event, solve

__all__ = ["odeint", "odeint_adjoint", "odeint_event", "solve", "Solution", "Crossing", "Stats", "methods",
           "keep_freed_memory", "tanh", "Tanh", "mlp", "MLP", "deq", "cnf"]

Stats = _deepdyn.Stats
keep_freed_memory = _deepdyn.keep_freed_memory
tanh = torch.ops.deepdyn.tanh


class Tanh(torch.nn.Module):
    """torch.nn.Tanh on deepdyn.tanh; scriptable."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.deepdyn.tanh(x)


def mlp(x: torch.Tensor, weights: List[torch.Tensor], biases: List[torch.Tensor], activation: str = "tanh",
        input: str = "identity") -> torch.Tensor:
    """W_L act(... act(W_1 T(x) + b_1) ...) + b_L over x's last dimension (weights [out, in] as
    nn.Linear's), T = "identity" or "cube" (x^3, ode_demo's field), activation "tanh", "softplus",
    "sigmoid", "elu" or "identity" between the layers: one autograd node on fused CPU kernels
    (float32/float64), differentiable to any order. Also torch.ops.deepdyn.mlp in TorchScript."""
    return torch.ops.deepdyn.mlp(x, weights, biases, activation, input)


class MLP(torch.nn.Module):
    """A multilayer perceptron on deepdyn.mlp: nn.Linear layers of the given widths (their default
    initialisation) with the activation between them; scriptable.

        field_net = deepdyn.MLP([2, 50, 2], activation="tanh", input="cube")  # ode_demo's net(y^3)
    """

    def __init__(self, widths: List[int], activation: str = "tanh", input: str = "identity"):
        super().__init__()
        if len(widths) < 2:
            raise ValueError(f"MLP needs at least an input and an output width, got {widths}")
        self.layers = torch.nn.ModuleList([torch.nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.activation = activation
        self.input = input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights: List[torch.Tensor] = []
        biases: List[torch.Tensor] = []
        for layer in self.layers:
            weights.append(layer.weight)
            biases.append(layer.bias)
        return torch.ops.deepdyn.mlp(x, weights, biases, self.activation, self.input)
