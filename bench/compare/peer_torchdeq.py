"""torchdeq 0.1.0 on the DEQ z = tanh(W z + U x + b): get_deq with Broyden or Anderson forward,
and implicit differentiation (ift=True) whose linear system the same method solves."""
import time

import torch
import torch.nn.functional as F
from torchdeq import get_deq
from torchdeq.solver import get_solver, register_solver

NAME = "torchdeq"

backward_calls = [0]


def _counting(solver):
    """The backward solver, counting evaluations of its map u -> u J_f(z*) + dL/dz (one VJP each)."""

    def run(func, x0, **kwargs):
        def counted(u):
            backward_calls[0] += 1
            return func(u)

        return solver(counted, x0, **kwargs)

    return run


for _method in ("broyden", "anderson"):
    register_solver(f"{_method}_counted", _counting(get_solver(_method)))


def cases(problem):
    p = problem["deq"]
    params = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in p["params"].items()}
    x = torch.from_numpy(p["x"])
    z0 = torch.zeros(x.shape[0], params["W"].shape[0])
    calls = [0]

    def f(z):
        calls[0] += 1
        return torch.tanh(F.linear(z, params["W"]) + F.linear(x, params["U"], params["b"]))

    deqs = {
        method: get_deq(
            f_solver=method, f_max_iter=p["forward"]["max_iter"], f_tol=p["forward"]["tol"], f_stop_mode="rel",
            b_solver=f"{method}_counted", b_max_iter=p["backward"]["max_iter"], b_tol=p["backward"]["tol"],
            b_stop_mode="rel", ift=True)
        for method in ("broyden", "anderson")
    }

    def run(method, mode, values):
        deq = deqs[method]
        for q in params.values():
            q.grad = None
        calls[0] = backward_calls[0] = 0
        start = time.perf_counter()
        if mode == "forward":
            deq.eval()  # inference: returns z* itself
            with torch.no_grad():
                z = deq(f, z0)[0][-1]
            nfe = calls[0]
        else:
            deq.train()  # training: returns f(z*) on the graph, gradient by IFT
            z = deq(f, z0)[0][-1]
            nfe = calls[0]
            (z**2).mean().backward()
        seconds = time.perf_counter() - start
        # Iterations as deepdyn counts them: evaluations of the solver's map less the first one (at z0 or
        # u0); in training the output f(z*) is one more call of f outside the solver.
        solver_calls = nfe - (mode == "train")
        out = {"seconds": seconds, "nfe": nfe, "nfe_backward": backward_calls[0], "iterations": solver_calls - 1,
               "iterations_backward": max(backward_calls[0] - 1, 0)}
        if values:
            if mode == "forward":  # compare f(z*), what deepdyn returns (outside the timing)
                with torch.no_grad():
                    z = f(z)
            grads = {} if mode == "forward" else {n: q.grad.numpy().copy() for n, q in params.items()}
            out["values"] = {"y": z.detach().numpy().ravel().copy(), "grads": grads}
        return out

    return {
        f"deq.{method}.{mode}": (lambda values, method=method, mode=mode: run(method, mode, values))
        for method in ("broyden", "anderson")
        for mode in ("forward", "train")
    }


NOTES = [
    "torchdeq: stops when max over the batch of ||f(z) - z|| / (||f(z)|| + 1e-9) < tol (stop_mode 'rel'; "
    "Broyden also stops after 30 steps without progress when within 3 tol); Broyden keeps max_iter "
    "updates, Anderson m = 6, lam = 1e-4 (absolute); the IFT backward starts at u = 0. Eval mode returns z*, "
    "training mode f(z*) (one more f call). NFE and iterations counted as deepdyn's.",
]
