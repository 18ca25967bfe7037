"""Step counts and accuracy of torchdiffeq and deepdyn (its Python package) on the problems of
tests/ode/step_control_test.cpp, which holds torchdiffeq's figures printed here.

  linear: tests/ode/problems.h's linear system, dy/dt = A y with A = U - U^T, U = 0.1 randn(10, 10)
          (float64, seed 0), y(1) = expm(A) 1, ts = linspace(1, 8, 10), rtol = atol = 1e-10
  spiral: bench_core's spiral (bench/spiral_field.h, seed 0), batch 1024, dopri5, rtol 1e-6,
          atol 1e-8, t in [0, 10], in float32 and float64

Run: .venv/bin/python bench/compare/step_control.py (after scripts/setup_bench.sh, and
pip install . for the deepdyn column).
"""
import copy

import torch
import torchdiffeq

try:
    import deepdyn
except ImportError:  # the package is not installed: torchdiffeq's column only
    deepdyn = None


class Counted(torch.nn.Module):
    def __init__(self, field):
        super().__init__()
        self.field, self.nfe = field, 0

    def forward(self, t, y):
        self.nfe += 1
        return self.field(t, y)


def linear_problem():
    torch.manual_seed(0)
    u = torch.randn(10, 10, dtype=torch.float64) * 0.1
    a = u - u.T
    ts = torch.linspace(1, 8, 10, dtype=torch.float64)
    exact = torch.stack([torch.linalg.matrix_exp(a * t) @ torch.ones(10, dtype=torch.float64) for t in ts])
    return (lambda t, y: a @ y), exact, ts


class Spiral(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer_in, self.layer_out = torch.nn.Linear(2, 50), torch.nn.Linear(50, 2)  # SpiralNet's order

    def forward(self, t, y):
        return self.layer_out(torch.tanh(self.layer_in(y ** 3)))


def spiral_problem():
    torch.manual_seed(0)
    field = Spiral()
    return field, torch.randn(1024, 2) * 0.5


def solvers():
    yield "torchdiffeq", lambda f, y0, ts, **kw: torchdiffeq.odeint(f, y0, ts, **kw)
    if deepdyn is not None:
        yield "deepdyn", lambda f, y0, ts, **kw: deepdyn.odeint(f, y0, ts, **kw)


def main():
    torch.set_num_threads(1)
    field, exact, ts = linear_problem()
    print("linear system, rtol = atol = 1e-10, float64: NFE, max relative error over the outputs")
    for method in ("dopri5", "bosh3", "dopri8"):
        for name, odeint in solvers():
            counted = Counted(field)
            ys = odeint(counted, exact[0], ts, rtol=1e-10, atol=1e-10, method=method)
            error = ((ys - exact) / exact).abs().max().item()
            print(f"  {method:7s} {name:12s} NFE {counted.nfe:6d}   error {error:.2e}")
    field, y0 = spiral_problem()
    field64 = copy.deepcopy(field).double()
    ts = torch.tensor([0.0, 10.0], dtype=torch.float64)
    print("spiral, dopri5, rtol 1e-6, atol 1e-8: NFE in float32; in float64 (where rounding does not blur "
          "it) NFE and max |y(10) - reference| (torchdiffeq at rtol 1e-10, atol 1e-12)")
    with torch.no_grad():
        reference = torchdiffeq.odeint(field64, y0.double(), ts, rtol=1e-10, atol=1e-12)[-1]
        for name, odeint in solvers():
            counted, counted64 = Counted(field), Counted(field64)
            odeint(counted, y0, ts, rtol=1e-6, atol=1e-8, method="dopri5")
            ys = odeint(counted64, y0.double(), ts, rtol=1e-6, atol=1e-8, method="dopri5")
            error = (ys[-1] - reference).abs().max().item()
            print(f"  dopri5  {name:12s} NFE {counted.nfe:6d}   float64: NFE {counted64.nfe:6d}   error {error:.4e}")

if __name__ == "__main__":
    main()
