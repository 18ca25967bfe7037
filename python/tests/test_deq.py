"""deepdyn.deq: fixed points against a long plain iteration, the DEQ layer's implicit gradient against
finite differences, and a TorchScript cell against the same cell in Python."""
import pytest
import torch

import deepdyn

WIDTH, INPUT, BATCH = 12, 5, 4


def contraction(seed=0):
    """z = tanh(W z + U x + b) with ||W||_2 = 0.8: f is a contraction, z* exists and is unique."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(WIDTH, WIDTH, generator=g)
    w *= 0.8 / torch.linalg.matrix_norm(w, 2)
    return w, torch.randn(WIDTH, INPUT, generator=g) / INPUT**0.5, 0.1 * torch.randn(WIDTH, generator=g)


class Cell(torch.nn.Module):
    def __init__(self, seed=0):
        super().__init__()
        w, u, b = contraction(seed)
        self.W, self.U, self.b = (torch.nn.Parameter(v) for v in (w, u, b))

    def forward(self, z, x):
        return torch.tanh(z @ self.W.T + x @ self.U.T + self.b)


def reference_fixed_point(cell, x):
    z = torch.zeros(x.shape[0], WIDTH)
    with torch.no_grad():
        for _ in range(400):  # 0.8^400: converged to rounding
            z = cell(z, x)
    return z


@pytest.mark.parametrize("method,options", [("broyden", {}), ("broyden", {"line_search": True, "memory": 8}),
                                            ("anderson", {"memory": 4, "beta": 0.9}), ("picard", {"damping": 0.9})])
def test_fixed_point_reaches_the_tolerance_and_the_true_fixed_point(method, options):
    cell, x = Cell(), torch.randn(BATCH, INPUT, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        result = deepdyn.deq.fixed_point(lambda z: cell(z, x), torch.zeros(BATCH, WIDTH), method=method, tol=1e-10,
                                         max_iter=300, **options)
    assert result.stats.termination == "success", result.stats.message
    assert result.relative_residual.shape == (BATCH,) and bool((result.relative_residual <= 1e-10).all())
    torch.testing.assert_close(result.z, reference_fixed_point(cell, x), rtol=0, atol=1e-9)
    # One f call per step and one for z0; a line search's backtracking trials are more calls (near
    # the rounding floor, whether one is needed depends on the machine's BLAS).
    if options.get("line_search"):
        assert result.stats.nfe >= result.stats.steps + 1
    else:
        assert result.stats.nfe == result.stats.steps + 1


def test_fixed_point_failures_are_reported_and_bad_settings_refused():
    cell, x = Cell(), torch.randn(BATCH, INPUT)
    with torch.no_grad():
        short = deepdyn.deq.fixed_point(lambda z: cell(z, x), torch.zeros(BATCH, WIDTH), method="picard", max_iter=2)
    assert short.stats.termination == "max_steps" and short.stats.message
    with pytest.raises(ValueError, match="unknown fixed-point method 'newton'"):
        deepdyn.deq.fixed_point(lambda z: z, torch.zeros(1, 2), method="newton")
    with pytest.raises(ValueError, match=r"anderson takes no option\(s\) \['line_search'\]"):
        deepdyn.deq.fixed_point(lambda z: z, torch.zeros(1, 2), method="anderson", line_search=True)
    with pytest.raises(RuntimeError, match="absolute"):  # the valid names are listed
        deepdyn.deq.fixed_point(lambda z: z, torch.zeros(1, 2), stop_on="max")
    with pytest.raises(RuntimeError, match="tol"):
        deepdyn.deq.fixed_point(lambda z: z, torch.zeros(1, 2), tol=-1.0)
    with pytest.raises(ValueError, match="unknown DEQ gradient"):
        deepdyn.deq.DEQ(Cell(), gradient="unrolled")


def test_deq_layer_registers_its_cell_and_its_implicit_gradient_matches_finite_differences():
    cell = Cell()
    layer = deepdyn.deq.DEQ(cell, tol=1e-12, max_iter=200, backward_tol=1e-12, backward_max_iter=200)
    assert {id(p) for p in layer.parameters()} == {id(p) for p in cell.parameters()}
    x0, z0 = torch.randn(BATCH, INPUT, generator=torch.Generator().manual_seed(2)), torch.zeros(BATCH, WIDTH)

    def loss(x):
        return layer(x, z0).z.pow(2).sum()

    x = x0.clone().requires_grad_()
    out = layer(x, z0)
    out.z.pow(2).sum().backward()
    assert out.stats.nfe_backward > 0 and out.stats.termination_backward == "success"
    eps = 1e-6
    with torch.no_grad():
        numeric_x = torch.zeros_like(x0)
        for i in range(x0.numel()):
            step = torch.zeros(x0.numel())
            step[i] = eps
            step = step.view_as(x0)
            numeric_x.view(-1)[i] = (loss(x0 + step) - loss(x0 - step)) / (2 * eps)
        numeric_w = torch.zeros_like(cell.W)
        for i in range(0, cell.W.numel(), 7):  # every 7th entry: enough to catch a wrong Jacobian
            cell.W.view(-1)[i] += eps
            up = loss(x0)
            cell.W.view(-1)[i] -= 2 * eps
            down = loss(x0)
            cell.W.view(-1)[i] += eps
            numeric_w.view(-1)[i] = (up - down) / (2 * eps)
    torch.testing.assert_close(x.grad, numeric_x, rtol=1e-6, atol=1e-8)
    picked = torch.arange(0, cell.W.numel(), 7)
    torch.testing.assert_close(cell.W.grad.view(-1)[picked], numeric_w.view(-1)[picked], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("gradient", ["implicit", "jacobian_free", "phantom"])
def test_a_torchscript_cell_gives_the_python_cells_equilibrium_and_gradients(gradient):
    cell = Cell()
    scripted = torch.jit.script(cell)  # shares cell's parameters
    x = torch.randn(BATCH, INPUT, generator=torch.Generator().manual_seed(3))
    results = []
    for f in (cell, scripted):
        layer = deepdyn.deq.DEQ(f, tol=1e-10, max_iter=100, gradient=gradient, jacobian_probes=2)
        x_leaf = x.clone().requires_grad_()
        torch.manual_seed(0)  # the same Hutchinson probes
        out = layer(x_leaf, torch.zeros(BATCH, WIDTH))
        (out.z.pow(2).sum() + out.jacobian_frobenius.sum()).backward()
        results.append((out.z.detach(), x_leaf.grad, cell.W.grad.clone(), out.stats.nfe, out.jacobian_frobenius.detach()))
        cell.zero_grad()
    for python, script in zip(*results):
        if isinstance(python, torch.Tensor):
            torch.testing.assert_close(script, python, rtol=1e-10, atol=1e-12)
        else:
            assert script == python
