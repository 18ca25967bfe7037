"""torchdiffeq 0.2.5 on the spiral: dopri5, odeint (direct backprop) and odeint_adjoint."""
import time

import torch
import torch.nn.functional as F
from torchdiffeq import odeint, odeint_adjoint

NAME = "torchdiffeq"


class Spiral(torch.nn.Module):
    """f(t, y) = W2 tanh(W1 y^3 + b1) + b2, counting its calls."""

    def __init__(self, params):
        super().__init__()
        for name, value in params.items():
            self.register_parameter(name, torch.nn.Parameter(torch.from_numpy(value.copy())))
        self.calls = 0

    def forward(self, t, y):
        self.calls += 1
        return F.linear(torch.tanh(F.linear(y**3, self.w1, self.b1)), self.w2, self.b2)


def cases(problem):
    p = problem["spiral"]
    field = Spiral(p["params"])
    y0 = torch.from_numpy(p["y0"])
    t = torch.tensor([0.0, p["t1"]], dtype=torch.float64)
    tol = dict(rtol=p["rtol"], atol=p["atol"], method="dopri5")

    def run(mode, values):
        for q in field.parameters():
            q.grad = None
        field.calls = 0
        start = time.perf_counter()
        if mode == "solve":
            with torch.no_grad():
                y = odeint(field, y0, t, **tol)[-1]
            nfe = field.calls
        else:
            solver = odeint if mode == "direct" else odeint_adjoint
            y = solver(field, y0, t, **tol)[-1]
            nfe = field.calls
            (y**2).mean().backward()
        seconds = time.perf_counter() - start
        out = {"seconds": seconds, "nfe": nfe, "nfe_backward": field.calls - nfe}
        if values:
            grads = {} if mode == "solve" else {n: q.grad.numpy().copy() for n, q in field.named_parameters()}
            out["values"] = {"y": y.detach().numpy().ravel().copy(), "grads": grads}
        return out

    return {f"spiral.{m}": (lambda values, m=m: run(m, values)) for m in ("solve", "direct", "adjoint")}


NOTES = [
    "torchdiffeq: dopri5, I step-size controller (safety 0.9, factors [0.2, 10]), Hairer's first step; "
    "adjoint: odeint_adjoint with the same rtol/atol and its default norm (every adjoint component controlled).",
]
