"""deepdyn's Python package on the same problems as bench_compare, the C++ API: the cost of calling
the C++ solvers from Python. The fields are nn.Modules written as bench_compare's: the spiral's on
deepdyn.mlp (the C++ side's core::mlp), the DEQ cell with deepdyn.tanh (core::tanh).
DEEPDYN_BENCH_FIELD=torch writes both in plain LibTorch operations instead (F.linear, torch.tanh), as
a field ported unchanged from torchdiffeq would be. peer_deepdyn_jit.py runs the same modules
scripted (the solve stays in C++)."""
import os
import time

import torch
import torch.nn.functional as F

import deepdyn

NAME = "deepdyn_py"

FIELD = os.environ.get("DEEPDYN_BENCH_FIELD", "fused")
if FIELD not in ("fused", "torch"):
    raise ValueError(f"DEEPDYN_BENCH_FIELD must be fused or torch, got {FIELD!r}")
FUSED = FIELD == "fused"
tanh = deepdyn.tanh if FUSED else torch.tanh


def _parameters(module, values):
    for name, value in values.items():
        module.register_parameter(name, torch.nn.Parameter(torch.from_numpy(value.copy())))


class Spiral(torch.nn.Module):
    """f(t, y) = W2 tanh(W1 y^3 + b1) + b2."""

    def __init__(self, params):
        super().__init__()
        _parameters(self, params)
        self.fused = FUSED  # an attribute: TorchScript reads no module globals

    def forward(self, t, y):
        if self.fused:
            return deepdyn.mlp(y, [self.w1, self.w2], [self.b1, self.b2], "tanh", "cube")
        return F.linear(torch.tanh(F.linear(y**3, self.w1, self.b1)), self.w2, self.b2)


class Cell(torch.nn.Module):
    """f(z, x) = tanh(W z + U x + b)."""

    def __init__(self, params):
        super().__init__()
        _parameters(self, params)

    def forward(self, z, x):
        return tanh(F.linear(z, self.W) + F.linear(x, self.U, self.b))


def spiral_cases(field, problem):
    p = problem["spiral"]
    y0 = torch.from_numpy(p["y0"])
    t = torch.tensor([0.0, p["t1"]], dtype=torch.float64)
    # The parameters in bench_compare's order (by name): their order in the adjoint's state changes
    # float32 sums, which tips accept/reject decisions (470 against 518 backward NFE here).
    params = [q for _, q in sorted(field.named_parameters())]
    # The C++ API's default error norm, RMS over the whole state: the package's default is torchdiffeq's
    # largest per-component RMS, which for the adjoint's [z, a, a_theta] takes other (more) steps.
    settings = dict(rtol=p["rtol"], atol=p["atol"], method="dopri5", options={"norm": "rms"})

    def run(mode, values):
        for q in params:
            q.grad = None
        start = time.perf_counter()
        if mode == "solve":
            with torch.no_grad():
                sol = deepdyn.solve(field, y0, t, **settings)
        else:
            sol = deepdyn.solve(field, y0, t, **settings, gradient="direct" if mode == "direct" else "adjoint",
                                adjoint_params=params)
            (sol.ys[-1] ** 2).mean().backward()
        seconds = time.perf_counter() - start
        s = sol.stats
        out = {"seconds": seconds, "nfe": s.nfe, "nfe_backward": s.nfe_backward, "steps": s.steps,
               "steps_backward": s.steps_backward}
        if values:
            grads = {} if mode == "solve" else {n: q.grad.numpy().copy() for n, q in field.named_parameters()}
            out["values"] = {"y": sol.ys[-1].detach().numpy().ravel().copy(), "grads": grads}
        return out

    return {f"spiral.{m}": (lambda values, m=m: run(m, values)) for m in ("solve", "direct", "adjoint")}


def deq_cases(cell, problem):
    p = problem["deq"]
    x = torch.from_numpy(p["x"])
    z0 = torch.zeros(x.shape[0], p["params"]["W"].shape[0])
    memory = {"broyden": p["broyden_memory"], "anderson": p["anderson_memory"]}
    layers = {m: deepdyn.deq.DEQ(cell, method=m, tol=p["forward"]["tol"], max_iter=p["forward"]["max_iter"],
                                 backward_method=m, backward_tol=p["backward"]["tol"],
                                 backward_max_iter=p["backward"]["max_iter"], method_options={"memory": memory[m]},
                                 backward_method_options={"memory": memory[m]})
              for m in memory}

    def run(method, mode, values):
        cell.zero_grad(set_to_none=True)
        start = time.perf_counter()
        if mode == "forward":
            with torch.no_grad():
                out = layers[method](x, z0)
        else:
            out = layers[method](x, z0)
            (out.z**2).mean().backward()
        seconds = time.perf_counter() - start
        s = out.stats
        # NFE as bench_compare counts it: the solver's evaluations of f, and in training the one more
        # that puts f(z*) on the graph (also made without grad, in forward mode).
        result = {"seconds": seconds, "nfe": s.nfe + 1, "nfe_backward": s.nfe_backward, "iterations": s.steps,
                  "iterations_backward": s.steps_backward, "converged": s.termination == "success",
                  "converged_backward": s.termination_backward == "success"}
        if values:
            grads = {} if mode == "forward" else {n: q.grad.numpy().copy() for n, q in cell.named_parameters()}
            result["values"] = {"y": out.z.detach().numpy().ravel().copy(), "grads": grads}
        return result

    return {f"deq.{m}.{mode}": (lambda values, m=m, mode=mode: run(m, mode, values))
            for m in memory for mode in ("forward", "train")}


def cases(problem, prepare=lambda module: module):
    """prepare: what the modules go through before use (peer_deepdyn_jit scripts them)."""
    return {**spiral_cases(prepare(Spiral(problem["spiral"]["params"])), problem),
            **deq_cases(prepare(Cell(problem["deq"]["params"])), problem)}


NOTES = [
    f"deepdyn_py: deepdyn.solve / deepdyn.deq.DEQ from Python with nn.Module fields "
    f"({'deepdyn.mlp and deepdyn.tanh' if FUSED else 'F.linear and torch.tanh'}); every field evaluation calls "
    "back into the interpreter. deepdyn/peer below 1: the C++ API is faster.",
]
