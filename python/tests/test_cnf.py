"""deepdyn.cnf.integrate_flow against the closed forms of a linear flow dz/dt = a z."""
import math

import pytest
import torch

import deepdyn


class Scale(torch.nn.Module):
    """dz/dt = a z: z(t) = z0 e^(a t), tr(df/dz) = a d, ||f||^2 = a^2 |z|^2, ||df/dz||_F^2 = a^2 d."""

    def __init__(self, a):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))

    def forward(self, t, z):
        return self.a * z


def closed_form(a, z0, t1):
    d = z0.shape[1]
    squared = z0.pow(2).sum(1)
    return (z0 * torch.exp(a * t1), -a * d * t1, a * squared * (torch.exp(2 * a * t1) - 1) / 2,
            a**2 * d * t1 * torch.ones(z0.shape[0]))


# Rademacher noise makes Hutchinson's e^T (a I) e = a |e|^2 = a d exact, so every estimator is checked
# against the closed form; Gaussian noise is unbiased but random.
@pytest.mark.parametrize("trace,noise", [("exact", "gaussian"), ("hutchinson", "rademacher")])
@pytest.mark.parametrize("gradient", ["direct", "adjoint"])
def test_linear_flow_matches_its_closed_forms_and_their_gradients(trace, noise, gradient):
    field = Scale(-0.7)
    z0 = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    flow = deepdyn.cnf.integrate_flow(field, z0, t=(0.0, 1.5), trace=trace, noise=noise, regularize=True,
                                      rtol=1e-10, atol=1e-10, gradient=gradient)
    exact = closed_form(field.a, z0, 1.5)
    for ours, theirs in zip((flow.z, flow.delta_logp, flow.kinetic, flow.jacobian), exact):
        torch.testing.assert_close(ours, theirs.expand_as(ours), rtol=1e-7, atol=1e-9)
    assert flow.stats.termination == "success" and flow.stats.nfe > 0

    (flow.delta_logp.sum() + flow.kinetic.sum() + flow.jacobian.sum()).backward()
    ours = field.a.grad.clone()
    field.a.grad = None
    _, dlogp, kinetic, jacobian = exact
    (dlogp * z0.shape[0] + kinetic.sum() + jacobian.sum()).backward()
    torch.testing.assert_close(ours, field.a.grad, rtol=1e-6, atol=1e-8)


def test_log_density_and_bad_names():
    z = torch.zeros(2, 4)
    torch.testing.assert_close(deepdyn.cnf.standard_normal_log_density(z), torch.full((2,), -2 * math.log(2 * math.pi)))
    with pytest.raises(RuntimeError, match="hutchinson"):  # the valid names are listed
        deepdyn.cnf.integrate_flow(Scale(1.0), z, trace="skilling")
    with pytest.raises(RuntimeError, match="rademacher"):
        deepdyn.cnf.integrate_flow(Scale(1.0), z, noise="uniform")
