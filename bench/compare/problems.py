"""The benchmark problems, drawn once from a seed with numpy so that every side gets the same
float32 weights and initial states (deepdyn reads them from the JSON file written here)."""
import json

import numpy as np

SPIRAL_BATCH = 1024
DEQ_WIDTH, DEQ_INPUT, DEQ_BATCH = 256, 64, 64
DEQ_SPECTRAL_NORM = 0.9  # ||W||_2 < 1 and |tanh'| <= 1: f is a contraction, z* exists and is unique
FFJORD_BATCH, FFJORD_WIDTHS = 512, (2, 64, 64, 64, 2)


def _f32(a):
    return np.asarray(a, dtype=np.float32)


SPIRAL_INITS = ("linear", "ode_demo")


def make(seed=0, spiral_init="linear"):
    """spiral_init: "linear" draws the spiral's layers as torch.nn.Linear's default initialisation
    does (a stiffer field, about 290 NFE); "ode_demo" as torchdiffeq's examples/ode_demo.py does,
    weights N(0, 0.1^2) and zero biases (a gentler field, about 90 NFE, on which float32 solves
    of different libraries agree to a few 1e-6: see the README)."""
    if spiral_init not in SPIRAL_INITS:
        raise ValueError(f"spiral_init '{spiral_init}': expected one of {', '.join(SPIRAL_INITS)}")
    rng = np.random.default_rng(seed)

    def linear(fan_out, fan_in):
        # torch.nn.Linear's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both.
        bound = 1 / np.sqrt(fan_in)
        return _f32(rng.uniform(-bound, bound, (fan_out, fan_in))), _f32(rng.uniform(-bound, bound, fan_out))

    w1, b1 = linear(50, 2)
    w2, b2 = linear(2, 50)
    if spiral_init == "ode_demo":  # from a stream of its own, so that the other problems stay the same
        demo = np.random.default_rng([seed, 1])
        w1, w2 = (_f32(0.1 * demo.standard_normal(w.shape)) for w in (w1, w2))
        b1, b2 = np.zeros_like(b1), np.zeros_like(b2)
    spiral = {
        "params": {"w1": w1, "b1": b1, "w2": w2, "b2": b2},
        "y0": _f32(0.5 * rng.standard_normal((SPIRAL_BATCH, 2))),
        "t1": 10.0,
        "rtol": 1e-6,
        "atol": 1e-8,
    }

    w = rng.standard_normal((DEQ_WIDTH, DEQ_WIDTH))
    w *= DEQ_SPECTRAL_NORM / np.linalg.norm(w, 2)
    deq = {
        "params": {
            "W": _f32(w),
            "U": _f32(rng.standard_normal((DEQ_WIDTH, DEQ_INPUT)) / np.sqrt(DEQ_INPUT)),
            "b": _f32(0.1 * rng.standard_normal(DEQ_WIDTH)),
        },
        "x": _f32(rng.standard_normal((DEQ_BATCH, DEQ_INPUT))),
        # Relative residual ||f(z) - z|| / ||f(z)|| per sample; stop when every sample is below tol.
        "forward": {"tol": 1e-4, "max_iter": 50},
        "backward": {"tol": 1e-6, "max_iter": 50},
        "broyden_memory": 50,  # torchdeq keeps max_iter rank-one updates (LBFGS_thres = max_iter)
        "anderson_memory": 6,  # torchdeq's default m
    }
    # FFJORD's toy density: 8gaussians as ffjord's lib/toy_data.py draws it, and its concat-squash
    # net (tanh) with nn.Linear's initialisation; the Hutchinson probe is drawn here too, so that
    # every side integrates the same estimate.
    centers = 4 * np.array([(1, 0), (-1, 0), (0, 1), (0, -1)] + [(a / np.sqrt(2), b / np.sqrt(2))
                                                                 for a in (1, -1) for b in (1, -1)])
    points = 0.5 * rng.standard_normal((FFJORD_BATCH, 2)) + centers[rng.integers(0, 8, FFJORD_BATCH)]
    net = {}
    for i, (fan_in, fan_out) in enumerate(zip(FFJORD_WIDTHS[:-1], FFJORD_WIDTHS[1:])):
        net[f"layer{i}.layer.weight"], net[f"layer{i}.layer.bias"] = linear(fan_out, fan_in)
        net[f"layer{i}.hyper_gate.weight"], net[f"layer{i}.hyper_gate.bias"] = linear(fan_out, 1)
        net[f"layer{i}.hyper_bias.weight"] = linear(fan_out, 1)[0]
    ffjord = {
        "params": net,
        "x": _f32(points / 1.414),
        "probe": _f32(rng.standard_normal((FFJORD_BATCH, 2))),
        "t1": 0.5,
        "rtol": 1e-5,
        "atol": 1e-5,
    }
    return {"seed": seed, "spiral": spiral, "deq": deq, "ffjord": ffjord}


def write(problem, path):
    """JSON for bench_compare: arrays as {"shape", "data" (flat, row-major)}; float32 values
    survive the trip exactly (a float32 is a double, and JSON keeps doubles)."""

    def encode(v):
        if isinstance(v, np.ndarray):
            return {"shape": list(v.shape), "data": v.ravel().tolist()}
        if isinstance(v, dict):
            return {k: encode(x) for k, x in v.items()}
        return v

    with open(path, "w") as f:
        json.dump(encode(problem), f)
