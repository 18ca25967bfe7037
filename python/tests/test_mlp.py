"""deepdyn.mlp and deepdyn.MLP (core::mlp's fused kernels) against the same network in torch.nn."""
import pytest
import torch

import deepdyn


def reference(net: deepdyn.MLP, x, activation=torch.tanh, cube=False):
    h = x ** 3 if cube else x
    for i, layer in enumerate(net.layers):
        h = layer(h)
        if i + 1 < len(net.layers):
            h = activation(h)
    return h


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("cube", [False, True])
def test_mlp_is_the_torch_network_with_its_gradients(dtype, tol, cube):
    torch.manual_seed(0)
    net = deepdyn.MLP([3, 16, 8, 2], input="cube" if cube else "identity").to(dtype)
    x = torch.randn(5, 7, 3, dtype=dtype, requires_grad=True)
    ours, theirs = net(x), reference(net, x, cube=cube)
    assert ours.shape == (5, 7, 2)
    torch.testing.assert_close(ours, theirs, rtol=tol, atol=tol)
    inputs = [x, *net.parameters()]
    v = torch.randn_like(ours)
    for a, b in zip(torch.autograd.grad(ours, inputs, v), torch.autograd.grad(theirs, inputs, v)):
        torch.testing.assert_close(a, b, rtol=10 * tol, atol=10 * tol)


def test_second_derivatives_and_torchscript():
    torch.manual_seed(1)
    net = deepdyn.MLP([2, 12, 2], activation="softplus").double()
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    e = torch.randn(4, 2, dtype=torch.float64)

    def trace_gradient(f):  # Hutchinson's e^T (df/dx) e, differentiated in the weights
        (vjp,) = torch.autograd.grad(f(x), x, e, create_graph=True)
        return torch.autograd.grad((vjp * e).sum(), [layer.weight for layer in net.layers])

    for a, b in zip(trace_gradient(net), trace_gradient(lambda x: reference(net, x, torch.nn.functional.softplus))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    scripted = torch.jit.script(net)
    torch.testing.assert_close(scripted(x), net(x))


def test_bad_names_are_refused():
    with pytest.raises(RuntimeError, match="softplus"):  # the valid names are listed
        deepdyn.mlp(torch.ones(1, 2), [torch.ones(3, 2)], [torch.ones(3)], "relu")
    with pytest.raises(RuntimeError, match="cube"):
        deepdyn.mlp(torch.ones(1, 2), [torch.ones(3, 2)], [torch.ones(3)], "tanh", "square")
    with pytest.raises(RuntimeError, match="layer 0 takes 2 features"):
        deepdyn.mlp(torch.ones(1, 2), [torch.ones(3, 4)], [torch.ones(3)])
