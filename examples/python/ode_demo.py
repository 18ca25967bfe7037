"""torchdiffeq's ode_demo on deepdyn: a neural ODE learns the spiral dy/dt = y^3 A from short windows
of one trajectory. The same script as torchdiffeq's examples/ode_demo.py (no plots), with
`from torchdiffeq import odeint` replaced by deepdyn.

    .venv/bin/python examples/python/ode_demo.py [--niters 2000] [--adjoint] [--script]

--script runs the field as a TorchScript module: every solve, forward and backward, stays in C++.
"""
import argparse
import time
import warnings

import torch

import deepdyn

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--method", default="dopri5", choices=deepdyn.methods())
parser.add_argument("--data_size", type=int, default=1000)
parser.add_argument("--batch_time", type=int, default=10)
parser.add_argument("--batch_size", type=int, default=20)
parser.add_argument("--niters", type=int, default=2000)
parser.add_argument("--test_freq", type=int, default=20)
parser.add_argument("--adjoint", action="store_true", help="gradients by deepdyn.odeint_adjoint")
parser.add_argument("--script", action="store_true", help="the field as a TorchScript module")
args = parser.parse_args()
odeint = deepdyn.odeint_adjoint if args.adjoint else deepdyn.odeint

torch.manual_seed(0)
true_y0 = torch.tensor([[2.0, 0.0]])
t = torch.linspace(0.0, 25.0, args.data_size)
true_A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])


class Lambda(torch.nn.Module):
    def forward(self, t, y):
        return torch.mm(y**3, true_A)


with torch.no_grad():
    true_y = deepdyn.odeint(Lambda(), true_y0, t, method="dopri5")


def get_batch():
    s = torch.randperm(args.data_size - args.batch_time)[: args.batch_size]
    batch_y0 = true_y[s]  # (M, 1, D)
    batch_t = t[: args.batch_time]  # (T)
    batch_y = torch.stack([true_y[s + i] for i in range(args.batch_time)], dim=0)  # (T, M, 1, D)
    return batch_y0, batch_t, batch_y


class ODEFunc(torch.nn.Module):
    def __init__(self):
        super().__init__()
        # torchdiffeq's nn.Sequential(Linear(2, 50), Tanh(), Linear(50, 2)) on y^3, as one fused node
        self.net = deepdyn.MLP([2, 50, 2], activation="tanh", input="cube")
        for m in self.net.modules():
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, mean=0, std=0.1)
                torch.nn.init.constant_(m.bias, val=0)

    def forward(self, t, y):
        return self.net(y)


func = ODEFunc()
if args.script:
    with warnings.catch_warnings():  # torch 2.x deprecates TorchScript in favour of torch.compile
        warnings.simplefilter("ignore", FutureWarning)
        func = torch.jit.script(func)
optimizer = torch.optim.RMSprop(func.parameters(), lr=1e-3)
start = time.perf_counter()
nfe = nfe_backward = 0
for itr in range(1, args.niters + 1):
    optimizer.zero_grad()
    batch_y0, batch_t, batch_y = get_batch()
    pred_y = odeint(func, batch_y0, batch_t, method=args.method)
    loss = torch.mean(torch.abs(pred_y - batch_y))
    loss.backward()
    optimizer.step()
    if itr % args.test_freq == 0:
        with torch.no_grad():
            sol = deepdyn.solve(func, true_y0, t, method=args.method)
            test_loss = torch.mean(torch.abs(sol.ys - true_y))
        print(f"Iter {itr:04d} | Total Loss {test_loss.item():.6f} | test solve NFE {sol.stats.nfe} | "
              f"{time.perf_counter() - start:.1f} s")
print(f"{args.niters} iterations in {time.perf_counter() - start:.1f} s")
