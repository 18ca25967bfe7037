"""The Python package against closed forms and finite differences, on the torch it was built with."""
import platform

import pytest
import torch

import deepdyn

torch.set_default_dtype(torch.float64)
A = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]])


def linear(t, y):
    return y @ A.T


def exact(y0, t):  # y(t) = exp(t A) y0
    return torch.stack([y0 @ torch.linalg.matrix_exp(s * A).T for s in t])


def test_linear_system_matches_its_closed_form_at_every_output_time():
    y0 = torch.tensor([[1.0, 0.5], [-0.3, 2.0]])
    t = torch.linspace(0, 3, 7)
    for method in ("dopri5", "tsit5", "dopri8"):
        sol = deepdyn.solve(linear, y0, t, rtol=1e-11, atol=1e-12, method=method)
        assert sol.ys.shape == (7, 2, 2)
        torch.testing.assert_close(sol.ys, exact(y0, t), rtol=0, atol=1e-8)
        assert sol.stats.nfe > 0 and sol.stats.accepted > 0


def test_tuple_state_gives_one_trajectory_per_component():
    t = torch.linspace(0, 1, 4)
    ys = deepdyn.odeint(lambda t, y: (y[1], -y[0]), (torch.tensor([1.0]), torch.tensor([0.0])), t,
                        rtol=1e-10, atol=1e-12)
    assert isinstance(ys, tuple) and len(ys) == 2
    torch.testing.assert_close(ys[0][:, 0], torch.cos(t), rtol=0, atol=1e-8)
    torch.testing.assert_close(ys[1][:, 0], -torch.sin(t), rtol=0, atol=1e-8)


def test_tuple_error_norm_is_torchdiffeqs_largest_component_rms_unless_rms_is_asked_for():
    # A hard one-element component beside 999 that are exact: the whole-state RMS dilutes its error.
    def field(t, y):
        return (10 * torch.cos(10 * t) * torch.ones_like(y[0]), torch.zeros_like(y[1]))

    y0, t = (torch.zeros(1), torch.ones(999)), torch.tensor([0.0, 5.0])
    per_component = deepdyn.solve(field, y0, t, rtol=1e-6, atol=1e-6)
    whole = deepdyn.solve(field, y0, t, rtol=1e-6, atol=1e-6, options={"norm": "rms"})
    assert per_component.stats.nfe > whole.stats.nfe
    assert abs(per_component.ys[0][-1, 0].item() - torch.sin(torch.tensor(50.0)).item()) < 1e-5
    with pytest.raises(ValueError, match="max_component_rms"):
        deepdyn.solve(field, y0, t, options={"norm": lambda x: x.abs().max()})


class Field(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))

    def forward(self, t, y):
        return self.net(y ** 3)


@pytest.mark.parametrize("gradient", ["direct", "adjoint", "checkpointed"])
def test_gradients_match_finite_differences(gradient):
    torch.manual_seed(0)
    field = Field()
    y0 = torch.randn(3, 2) * 0.5
    t = torch.tensor([0.0, 0.5, 1.0])

    # A fixed grid: an adaptive solve's step sizes follow the parameters, which puts noise of
    # order tolerance / eps into the finite differences.
    def loss(y0):
        return deepdyn.odeint(field, y0, t, method="rk4", options={"step_size": 0.01}, gradient=gradient).pow(2).sum()

    y0_leaf = y0.clone().requires_grad_()
    loss(y0_leaf).backward()
    weight = field.net[0].weight
    with torch.no_grad():
        eps, numeric_y0, numeric_w = 1e-6, torch.zeros_like(y0), torch.zeros_like(weight)
        for i in range(y0.numel()):
            step = torch.zeros_like(y0).view(-1)
            step[i] = eps
            step = step.view_as(y0)
            numeric_y0.view(-1)[i] = (loss(y0 + step) - loss(y0 - step)) / (2 * eps)
        for i in range(weight.numel()):
            weight.view(-1)[i] += eps
            up = loss(y0)
            weight.view(-1)[i] -= 2 * eps
            down = loss(y0)
            weight.view(-1)[i] += eps
            numeric_w.view(-1)[i] = (up - down) / (2 * eps)
    torch.testing.assert_close(y0_leaf.grad, numeric_y0, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(weight.grad, numeric_w, rtol=1e-5, atol=1e-7)


def test_adjoint_counts_its_backward_evaluations_and_a_script_module_gives_the_callables_answer():
    torch.manual_seed(0)
    field = Field()
    y0 = torch.randn(4, 2) * 0.5
    t = torch.tensor([0.0, 1.0])
    sol = deepdyn.solve(field, y0, t, gradient="adjoint")
    assert sol.stats.nfe_backward == 0
    sol.ys.sum().backward()
    assert sol.stats.nfe_backward > 0
    torch.testing.assert_close(deepdyn.odeint(torch.jit.script(field), y0, t), sol.ys.detach())


def test_bad_input_raises_python_exceptions_with_the_cores_message():
    y0, t = torch.ones(2), torch.tensor([0.0, 1.0])
    with pytest.raises(RuntimeError, match="rtol"):
        deepdyn.odeint(linear, y0, t, rtol=-1.0)
    with pytest.raises(RuntimeError, match="dopri5"):  # the valid names are listed
        deepdyn.odeint(linear, y0, t, method="rk45")
    with pytest.raises(ValueError, match="max_num_steps"):
        deepdyn.odeint(linear, y0, t, options={"max_steps": 3})
    with pytest.raises(RuntimeError, match="step"):  # runs out of steps: says when and how far it got
        deepdyn.odeint(linear, y0, t, options={"max_num_steps": 2})

    def broken(t, y):
        raise KeyError("from the field")

    with pytest.raises(KeyError, match="from the field"):
        deepdyn.odeint(broken, y0, t)
    assert "dopri5" in deepdyn.methods()


def test_keep_freed_memory_applies_exactly_where_the_c_library_is_glibc():
    assert deepdyn.keep_freed_memory() is (platform.libc_ver()[0] == "glibc")
