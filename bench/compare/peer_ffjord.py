"""FFJORD's toy training step as github.com/rtqichen/ffjord writes it (not on PyPI; its code is
restated here): ODEnet of ConcatSquashLinear layers (diffeq_layers/basic.py), ODEfunc with
divergence_approx (odefunc.py: one vector-Jacobian product with create_graph) or divergence_bf
(the exact trace, one per dimension), CNF integrating (z, logp) by torchdiffeq's odeint_adjoint
(cnf.py), loss = -mean(log p(x)) and Adam at lr 1e-3 (train_toy.py)."""
import time

import torch
from torchdiffeq import odeint_adjoint

NAME = "ffjord"


class ConcatSquashLinear(torch.nn.Module):
    def __init__(self, dim_in, dim_out):
        super().__init__()
        self._layer = torch.nn.Linear(dim_in, dim_out)
        self._hyper_bias = torch.nn.Linear(1, dim_out, bias=False)
        self._hyper_gate = torch.nn.Linear(1, dim_out)

    def forward(self, t, x):
        return self._layer(x) * torch.sigmoid(self._hyper_gate(t.view(1, 1))) + self._hyper_bias(t.view(1, 1))


TRAJECTORY = 10  # Adam steps whose losses are compared (bench_compare's Flow::kTrajectory)


def divergence_bf(dx, y):
    """tr(dx/dy) by one vector-Jacobian product per dimension (ffjord's odefunc.py)."""
    sum_diag = 0.0
    for i in range(y.shape[1]):
        sum_diag += torch.autograd.grad(dx[:, i].sum(), y, create_graph=True)[0].contiguous()[:, i].contiguous()
    return sum_diag.contiguous()


class ODEfunc(torch.nn.Module):
    """d/dt (z, logp) = (f(t, z), -e^T (df/dz) e), or -tr(df/dz) without a probe, counting its calls."""

    def __init__(self, layers, probe):
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)
        self.probe = probe
        self.calls = 0

    def diffeq(self, t, z):
        for i, layer in enumerate(self.layers):
            z = layer(t, z)
            if i + 1 < len(self.layers):
                z = torch.tanh(z)
        return z

    def forward(self, t, states):
        self.calls += 1
        y = states[0]
        with torch.set_grad_enabled(True):
            y.requires_grad_(True)
            t.requires_grad_(True)
            dy = self.diffeq(t, y)
            if self.probe is None:
                divergence = divergence_bf(dy, y)
            else:
                e_dzdx = torch.autograd.grad(dy, y, self.probe, create_graph=True)[0]
                divergence = (e_dzdx * self.probe).view(y.shape[0], -1).sum(dim=1)
        return dy, -divergence.view(-1, 1)


def build(p):
    widths = [p["params"][f"layer{i}.layer.weight"].shape for i in range(len(p["params"]) // 5)]
    layers = [ConcatSquashLinear(w[1], w[0]) for w in widths]
    names = {}
    for i, layer in enumerate(layers):
        for ours, theirs in (("layer.weight", layer._layer.weight), ("layer.bias", layer._layer.bias),
                             ("hyper_gate.weight", layer._hyper_gate.weight),
                             ("hyper_gate.bias", layer._hyper_gate.bias), ("hyper_bias.weight", layer._hyper_bias.weight)):
            with torch.no_grad():
                theirs.copy_(torch.from_numpy(p["params"][f"layer{i}.{ours}"]))
            names[f"layer{i}.{ours}"] = theirs
    return layers, names


def cases(problem):
    p = problem["ffjord"]
    layers, names = build(p)
    x = torch.from_numpy(p["x"])
    t = torch.tensor([0.0, p["t1"]])

    def step(func):
        z, delta_logp = odeint_adjoint(func, (x, torch.zeros(x.shape[0], 1)), t, rtol=p["rtol"], atol=p["atol"],
                                       method="dopri5")
        z, delta_logp = z[-1], delta_logp[-1]
        nfe = func.calls
        logpz = -0.5 * (z**2).sum(1, keepdim=True) - z.shape[1] * 0.5 * torch.log(torch.tensor(2 * torch.pi))
        loss = -(logpz - delta_logp).mean()
        loss.backward()
        return z, delta_logp, loss, nfe

    def trajectory(func):
        """The losses of TRAJECTORY Adam steps from the problem's weights, restored afterwards."""
        initial = [q.detach().clone() for q in func.parameters()]
        adam = torch.optim.Adam(func.parameters(), lr=1e-3)
        losses = []
        for _ in range(TRAJECTORY):
            adam.zero_grad()
            losses.append(step(func)[2].item())
            adam.step()
        with torch.no_grad():
            for q, q0 in zip(func.parameters(), initial):
                q.copy_(q0)
        return losses

    def case(probe):
        func = ODEfunc(layers, probe)

        def run(values):
            for q in func.parameters():
                q.grad = None
            func.calls = 0
            start = time.perf_counter()
            z, delta_logp, _, nfe = step(func)
            seconds = time.perf_counter() - start
            out = {"seconds": seconds, "nfe": nfe, "nfe_backward": func.calls - nfe}
            if values:
                y = torch.cat([z.detach().ravel(), delta_logp.detach().ravel()])
                out["values"] = {"y": y.numpy().copy(), "grads": {n: q.grad.numpy().copy() for n, q in names.items()},
                                 "losses": trajectory(func)}
            return out

        return run

    return {"ffjord.train": case(torch.from_numpy(p["probe"])), "ffjord.exact": case(None)}


NOTES = [
    "ffjord: FFJORD's toy ODEfunc and concat-squash ODEnet restated from its repository on torchdiffeq's "
    "odeint_adjoint (dopri5, default adjoint options), Hutchinson's trace with the problem's fixed Gaussian probe "
    "by one vector-Jacobian product (create_graph) per evaluation, or (ffjord.exact) its divergence_bf, one per "
    "dimension.",
]
