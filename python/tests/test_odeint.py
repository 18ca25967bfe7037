"""deepdyn.odeint, odeint_adjoint and solve against closed forms, finite differences and the C++ API,
on the torch the package was built with."""
import json
import math
import platform
import subprocess

import pytest
import torch

import deepdyn

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


class Linear(torch.nn.Module):
    """dy/dt = y A^T with A a parameter: y(t) = exp((t - t0) A) y0, differentiable in A, y0 and t by autograd
    through torch.linalg.matrix_exp, the reference for the solvers' gradients."""

    def __init__(self):
        super().__init__()
        self.A = torch.nn.Parameter(A.clone())

    def forward(self, t, y):
        return y @ self.A.T


def linear_loss(ys):
    return ys[-1].pow(2).sum() + ys[1].sum()


@pytest.mark.parametrize("adjoint_options", [None, {"norm": "seminorm"}])
def test_odeint_adjoint_gradients_for_y0_parameters_and_times_match_the_closed_form(adjoint_options):
    field = Linear()
    y0 = torch.tensor([[1.0, 0.5], [-0.3, 2.0]], requires_grad=True)
    t = torch.tensor([0.0, 0.7, 1.5], requires_grad=True)
    ys = deepdyn.odeint_adjoint(field, y0, t, rtol=1e-10, atol=1e-12, adjoint_options=adjoint_options)
    linear_loss(ys).backward()
    got = (y0.grad.clone(), field.A.grad.clone(), t.grad.clone())

    y0.grad = field.A.grad = t.grad = None
    linear_loss(torch.stack([y0 @ torch.linalg.matrix_exp((s - t[0]) * field.A).T for s in t])).backward()
    for ours, exact in zip(got, (y0.grad, field.A.grad, t.grad)):
        torch.testing.assert_close(ours, exact, rtol=1e-7, atol=1e-8)


def test_adjoint_settings_reach_the_backward_solve():
    field, y0, t = Linear(), torch.tensor([[1.0, 0.5]]), torch.tensor([0.0, 2.0])

    def backward_nfe(**adjoint):
        sol = deepdyn.solve(field, y0, t, rtol=1e-8, atol=1e-10, gradient="adjoint", **adjoint)
        assert sol.stats.nfe_backward == 0
        linear_loss(torch.cat([sol.ys, sol.ys])).backward()
        return sol.stats.nfe_backward

    forward_settings = backward_nfe()
    assert backward_nfe(adjoint_rtol=1e-4, adjoint_atol=1e-6) < forward_settings
    assert backward_nfe(adjoint_method="dopri8") != forward_settings
    assert backward_nfe(adjoint_options={"norm": "seminorm"}) <= forward_settings


class Script(torch.nn.Module):
    """ode_demo's field, scriptable."""

    def __init__(self):
        super().__init__()
        self.inner = torch.nn.Linear(2, 16)
        self.outer = torch.nn.Linear(16, 2)

    def forward(self, t, y):
        return self.outer(torch.tanh(self.inner(y ** 3)))


@pytest.mark.parametrize("gradient", ["direct", "adjoint", "checkpointed"])
def test_a_torchscript_module_gives_the_python_modules_values_steps_and_gradients(gradient):
    torch.manual_seed(0)
    field = Script()
    scripted = torch.jit.script(field)  # shares field's parameters
    y0, t = torch.randn(5, 2) * 0.5, torch.tensor([0.0, 0.5, 2.0])
    results = []
    for func in (field, scripted):
        y0_leaf = y0.clone().requires_grad_()
        sol = deepdyn.solve(func, y0_leaf, t, rtol=1e-8, atol=1e-10, gradient=gradient)
        sol.ys.pow(2).sum().backward()
        results.append((sol.ys.detach(), y0_leaf.grad, [p.grad.clone() for p in field.parameters()],
                        sol.stats.nfe, sol.stats.nfe_backward))
        field.zero_grad()
    (ys, g_y0, g_params, nfe, nfe_bwd), (ys_s, g_y0_s, g_params_s, nfe_s, nfe_bwd_s) = results
    assert (nfe, nfe_bwd) == (nfe_s, nfe_bwd_s)
    torch.testing.assert_close(ys_s, ys, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g_y0_s, g_y0, rtol=1e-10, atol=1e-12)
    for ours, python in zip(g_params_s, g_params):
        torch.testing.assert_close(ours, python, rtol=1e-10, atol=1e-12)


def test_the_package_gives_the_deepdyn_commands_trajectory_and_steps(tmp_path, deepdyn_command):
    torch.manual_seed(1)
    field = Script()
    torch.jit.script(field).save(str(tmp_path / "field.pt"))
    y0, t = [0.3, -0.4], torch.linspace(0, 4, 9)
    subprocess.run([deepdyn_command, "solve", "--field", str(tmp_path / "field.pt"), "--y0", "0.3,-0.4",
                    "--t", "0:4:9", "--method", "tsit5", "--rtol", "1e-8", "--atol", "1e-10",
                    "--out", str(tmp_path / "y.pt"), "--stats", str(tmp_path / "stats.json")],
                   check=True, capture_output=True)
    table = torch.load(str(tmp_path / "y.pt"))  # [t, y1, y2] per output time
    stats = json.loads((tmp_path / "stats.json").read_text())
    sol = deepdyn.solve(field, torch.tensor(y0), t, rtol=1e-8, atol=1e-10, method="tsit5")
    assert sol.stats.nfe == stats["nfe"] and sol.stats.steps == stats["steps"]
    torch.testing.assert_close(table[:, 0], t)
    torch.testing.assert_close(table[:, 1:], sol.ys.detach(), rtol=1e-13, atol=1e-13)


def test_an_implicit_method_solves_a_stiff_problem_from_python():
    # y' = -1000 (y - cos t): y follows cos t within 1e-3 after a fast transient. kvaerno5 takes
    # Jacobians by autograd inside the solve, which LibTorch allows only with the GIL released.
    def stiff(t, y):
        return -1000.0 * (y - torch.cos(t))

    t = torch.tensor([0.0, 0.5, 1.0])
    sol = deepdyn.solve(stiff, torch.zeros(1), t, rtol=1e-8, atol=1e-10, method="kvaerno5")
    exact = [(1000.0 * (1000.0 * torch.cos(s) + torch.sin(s) - 1000.0 * torch.exp(-1000.0 * s))) / (1000.0**2 + 1)
             for s in t]
    torch.testing.assert_close(sol.ys[:, 0], torch.stack(exact), rtol=0, atol=1e-7)
    assert sol.stats.newton_iterations > 0 and sol.stats.jacobians > 0 and sol.stats.steps < 200


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
    with pytest.raises(TypeError, match=r"func\(t, y\) must return a torch.Tensor, it returned a float"):
        deepdyn.odeint(lambda t, y: 1.0, y0, t)
    with pytest.raises(RuntimeError, match=r"func\(t, y\), a TorchScript module, failed"):
        deepdyn.odeint(torch.jit.script(Script()), torch.ones(3), t)  # a state of 3 for a Linear(2, 16)

    with pytest.raises(ValueError, match="adjoint_params"):
        deepdyn.odeint_adjoint(linear, y0, t)
    with pytest.raises(ValueError, match="unknown adjoint option"):
        deepdyn.odeint_adjoint(Linear(), y0, t, adjoint_options={"step_size": 0.1})
    with pytest.raises(ValueError, match="odeint_adjoint or gradient='adjoint'"):
        deepdyn.odeint(linear, y0, t, adjoint_rtol=1e-3)
    with pytest.raises(RuntimeError, match="dopri5"):
        deepdyn.odeint_adjoint(Linear(), y0, t, adjoint_method="rk45")
    assert "dopri5" in deepdyn.methods()


def test_keep_freed_memory_applies_exactly_where_the_c_library_is_glibc():
    assert deepdyn.keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


def test_deepdyn_tanh_is_torch_tanh_within_3_ulp_with_its_gradient_and_runs_in_torchscript():
    x = torch.linspace(-12, 12, 10001, dtype=torch.float32, requires_grad=True)
    ours, theirs = deepdyn.tanh(x), torch.tanh(x)
    ulp = torch.finfo(torch.float32).eps * theirs.detach().abs().clamp_min(torch.finfo(torch.float32).tiny)
    assert bool(((ours - theirs).abs() <= 3 * ulp).all())
    (grad,) = torch.autograd.grad(ours.sum(), x)
    torch.testing.assert_close(grad, 1 - theirs.detach() ** 2, rtol=1e-5, atol=1e-6)

    class Field(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(2, 16), deepdyn.Tanh(), torch.nn.Linear(16, 2))

        def forward(self, t, y):
            return self.net(y)

    field = Field().float()
    y0, t = torch.randn(3, 2, dtype=torch.float32), torch.tensor([0.0, 1.0])
    torch.testing.assert_close(deepdyn.odeint(torch.jit.script(field), y0, t), deepdyn.odeint(field, y0, t))


G = 9.81


def falling(t, y):  # y = [height, velocity] per row
    return torch.stack([y[..., 1], torch.full_like(y[..., 1], -G)], dim=-1)


@pytest.mark.parametrize("interface", [deepdyn.odeint, deepdyn.odeint_adjoint])
def test_odeint_event_finds_the_impact_time_and_its_gradient_in_the_drop_height(interface):
    # A ball dropped from h hits the ground at t* = sqrt(2 h / g), falling at g t*; dt*/dh = 1/sqrt(2 g h).
    h = torch.tensor(2.0, requires_grad=True)
    y0 = torch.stack([h, torch.zeros(())])
    event_t, ys = deepdyn.odeint_event(falling, y0, 0.0, event_fn=lambda t, y: y[0], odeint_interface=interface,
                                       rtol=1e-10, atol=1e-12, adjoint_params=())
    impact = math.sqrt(2 * 2.0 / G)
    assert ys.shape == (2, 2)
    assert abs(event_t.item() - impact) < 1e-9
    torch.testing.assert_close(ys[1].detach(), torch.tensor([0.0, -G * impact]), rtol=0, atol=1e-8)
    (dt_dh,) = torch.autograd.grad(event_t, h)
    assert abs(dt_dh.item() - 1 / math.sqrt(2 * G * 2.0)) < 1e-7


def test_non_terminal_events_record_every_crossing_in_the_asked_direction():
    # y = (cos t, -sin t): y0 falls through zero at pi/2 + 2k pi and rises at 3 pi/2 + 2k pi.
    y0, t = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 8.0])

    def oscillator(t, y):
        return torch.stack([y[1], -y[0]])

    def crossings(direction):
        sol = deepdyn.solve(oscillator, y0, t, rtol=1e-10, atol=1e-12, event_fn=lambda t, y: y[:1],
                            event_terminal=False, event_direction=direction)
        assert sol.ys.shape == (2, 2) and abs(sol.ys[-1, 0].item() - math.cos(8.0)) < 1e-8  # not stopped
        return [e.t.item() for e in sol.events]

    for found, exact in zip(crossings(0), [math.pi / 2, 3 * math.pi / 2, 5 * math.pi / 2]):
        assert abs(found - exact) < 1e-9
    assert len(crossings(0)) == 3
    assert [round(v, 6) for v in crossings(-1)] == [round(math.pi / 2, 6), round(5 * math.pi / 2, 6)]
    assert [round(v, 6) for v in crossings(+1)] == [round(3 * math.pi / 2, 6)]
    with pytest.raises(ValueError, match="tensor state"):
        deepdyn.solve(lambda t, y: y, (y0,), t, event_fn=lambda t, y: y[0])
    with pytest.raises(RuntimeError, match="did not cross zero"):  # y stays at 2: the horizon ends the solve
        deepdyn.odeint_event(lambda t, y: torch.zeros_like(y), y0 + 1.0, 0.0, event_fn=lambda t, y: y[0])
