"""diffrax on the spiral: Dopri5 + PIDController, jitted, float32, on JAX's CPU backend.
"direct" differentiates through the solve (RecursiveCheckpointAdjoint, diffrax's default);
"adjoint" is BacksolveAdjoint (the continuous adjoint, as torchdiffeq's odeint_adjoint).

NFE: diffrax reports steps, not evaluations, so each case is also compiled once with a host
callback in the field that counts its executions; that copy runs once, outside the timing.
The forward count is 6 * num_steps + 1 here (Dopri5 is first-same-as-last: six new stages a
step, plus the initial evaluation). The backward count is every execution of the field's code
in the backward pass: the BacksolveAdjoint's augmented dynamics, or, for the checkpointed
backprop, the forward steps recomputed from checkpoints plus the primal inside each VJP."""
import time

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

NAME = "diffrax"


def cases(problem):
    p = problem["spiral"]
    params = {k: jnp.asarray(v) for k, v in p["params"].items()}
    y0 = jnp.asarray(p["y0"])
    calls = [0]

    def count():
        calls[0] += 1

    def field(counted):
        def f(t, y, q):
            if counted:
                jax.debug.callback(count)
            return jnp.tanh((y**3) @ q["w1"].T + q["b1"]) @ q["w2"].T + q["b2"]

        return diffrax.ODETerm(f)

    def solve(q, adjoint, counted):
        return diffrax.diffeqsolve(
            field(counted), diffrax.Dopri5(), t0=0.0, t1=p["t1"], dt0=None, y0=y0, args=q,
            stepsize_controller=diffrax.PIDController(rtol=p["rtol"], atol=p["atol"]),
            saveat=diffrax.SaveAt(t1=True), adjoint=adjoint)

    def compile_case(mode, counted):
        if mode == "solve":
            return jax.jit(lambda q: (lambda s: (s.ys[-1], s.stats["num_steps"], {}))(
                solve(q, diffrax.RecursiveCheckpointAdjoint(), counted)))
        adjoint = diffrax.RecursiveCheckpointAdjoint() if mode == "direct" else diffrax.BacksolveAdjoint()

        def loss(q):
            s = solve(q, adjoint, counted)
            return jnp.mean(s.ys[-1] ** 2), (s.ys[-1], s.stats["num_steps"])

        grad = jax.value_and_grad(loss, has_aux=True)
        return jax.jit(lambda q: (lambda r: (r[0][1][0], r[0][1][1], r[1]))(grad(q)))

    timed = {}
    nfe = {}  # mode -> (forward, backward), from the counting copy

    def counted_nfe(mode):
        if "solve" not in nfe:
            calls[0] = 0
            jax.block_until_ready(compile_case("solve", True)(params))
            nfe["solve"] = (calls[0], 0)
        if mode not in nfe:
            calls[0] = 0
            jax.block_until_ready(compile_case(mode, True)(params))
            nfe[mode] = (nfe["solve"][0], calls[0] - nfe["solve"][0])
        return nfe[mode]

    def run(mode, values):
        if mode not in timed:
            timed[mode] = compile_case(mode, False)
        forward, backward = counted_nfe(mode)
        start = time.perf_counter()
        y, steps, grads = jax.block_until_ready(timed[mode](params))
        seconds = time.perf_counter() - start
        assert forward == 6 * int(steps) + 1, (forward, int(steps))
        out = {"seconds": seconds, "nfe": forward, "nfe_backward": backward, "steps": int(steps)}
        if values:
            out["values"] = {"y": np.asarray(y).ravel(), "grads": {k: np.asarray(v) for k, v in grads.items()}}
        return out

    return {f"spiral.{m}": (lambda values, m=m: run(m, values)) for m in ("solve", "direct", "adjoint")}


NOTES = [
    "diffrax: Dopri5, PIDController(rtol, atol) (an I controller by default), its own first step; "
    "direct = RecursiveCheckpointAdjoint (default), adjoint = BacksolveAdjoint. NFE counted by a host "
    "callback in an untimed copy (forward = 6 * steps + 1); backward counts every execution of the field "
    "in the backward pass (checkpointed: recomputation + VJP primal).",
]
