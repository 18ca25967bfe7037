#!/usr/bin/env python3
"""deepdyn against its Python peers on the same problems, one thread each, interleaved.

    .venv/bin/python bench/compare/compare.py --bench-binary build-wheel/bench/bench_compare \\
        [--rounds 7] [--cases spiral,deq,ffjord] [--peers torchdiffeq,diffrax,torchdeq,ffjord,deepdyn_py,deepdyn_jit] \\
        [--spiral-init linear|ode_demo] [--json out.json]

Weights and initial states are drawn once (problems.py) and handed to every side; deepdyn runs in
bench_compare (a server answering one case per stdin line). Every side is warmed up (diffrax's jit
compilation included) and checked against deepdyn; then each round runs every case on every side
back to back. Times are measured by each side around the case only."""
import os

# One thread everywhere, before torch or jax is imported (bench_compare inherits this environment).
os.environ.update({
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "JAX_PLATFORMS": "cpu",
    "JAX_ENABLE_X64": "0",  # float32
})

import argparse  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import problems  # noqa: E402

PEERS = {"torchdiffeq": ["torchdiffeq"], "diffrax": ["diffrax", "jax"], "torchdeq": ["torchdeq"],
         "ffjord": ["torchdiffeq"],  # FFJORD's code restated (peer_ffjord.py) on torchdiffeq
         # deepdyn's own Python package: with Python fields, and with the same fields scripted
         "deepdyn_py": ["deepdyn"], "deepdyn_jit": ["deepdyn"]}
OURS = ("deepdyn", "deepdyn_ops", "deepdyn_py", "deepdyn_jit")  # sides that are deepdyn itself
CASES = {
    "spiral": ["spiral.solve", "spiral.direct", "spiral.adjoint"],
    "deq": ["deq.broyden.forward", "deq.broyden.train", "deq.anderson.forward", "deq.anderson.train"],
    "ffjord": ["ffjord.train", "ffjord.exact"],
}
WARMUP = 2  # untimed runs of every case on every side, after the one that collects values


class Deepdyn:
    """bench_compare as a side: one request line per case, one JSON line back."""

    NAME = "deepdyn"

    def __init__(self, binary, problem_path, *flags):
        self.process = subprocess.Popen([binary, problem_path, *flags], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, bufsize=1)
        self.hello = json.loads(self.process.stdout.readline())

    def request(self, case, values):
        self.process.stdin.write(f"{case}{' values' if values else ''}\n")
        answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"bench_compare {case}: {answer['error']}")
        if values:
            answer["values"]["y"] = np.asarray(answer["values"]["y"])
        return answer

    def cases(self, names):
        return {name: (lambda values, name=name: self.request(name, values)) for name in names}

    def close(self):
        self.process.stdin.write("\n")
        self.process.stdin.close()
        self.process.wait()


def relative_difference(ours, theirs):
    """max |ours - theirs| / max |theirs|: the largest difference relative to the output's scale."""
    return float(np.max(np.abs(ours - theirs)) / np.max(np.abs(theirs)))


def agreement(ours, theirs):
    """The relative difference of the outputs, and of all gradients taken together."""
    out = {"max_rel_y": relative_difference(ours["y"], theirs["y"])}
    if ours["grads"] and theirs["grads"]:
        names = sorted(theirs["grads"])
        out["max_rel_grad"] = relative_difference(np.concatenate([np.ravel(ours["grads"][k]) for k in names]),
                                                  np.concatenate([np.ravel(theirs["grads"][k]) for k in names]))
    if "losses" in ours and "losses" in theirs:  # the loss over the same training steps
        out["max_rel_loss"] = relative_difference(np.asarray(ours["losses"]), np.asarray(theirs["losses"]))
    return out


def version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench-binary", required=True, help="path to bench_compare")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", default="spiral,deq,ffjord", help="comma-separated: spiral, deq, ffjord")
    parser.add_argument("--peers", default="torchdiffeq,diffrax,torchdeq,ffjord,deepdyn_py,deepdyn_jit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--spiral-init", default="linear", choices=problems.SPIRAL_INITS,
                        help="the spiral's weights: torch.nn.Linear's default initialisation, or ode_demo's "
                             "N(0, 0.1^2) weights and zero biases")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    groups = [g for g in args.cases.split(",") if g]
    for g in groups:
        if g not in CASES:
            parser.error(f"unknown case group '{g}' (valid: {', '.join(CASES)})")
    names = [c for g in groups for c in CASES[g]]
    problem = problems.make(args.seed, args.spiral_init)

    sides, notes = [], []
    for peer in [p for p in args.peers.split(",") if p]:
        if peer not in PEERS:
            parser.error(f"unknown peer '{peer}' (valid: {', '.join(PEERS)})")
        missing = [m for m in PEERS[peer] if importlib.util.find_spec(m) is None]
        if missing:
            print(f"skipping {peer}: {', '.join(missing)} not installed (run scripts/setup_bench.sh)")
            continue
        module = importlib.import_module(f"peer_{peer}")
        cases = {k: v for k, v in module.cases(problem).items() if k in names}
        if cases:
            sides.append((peer, cases))
            notes += module.NOTES

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "problem.json")
        problems.write(problem, path)
        deepdyn = Deepdyn(args.bench_binary, path)
        # deepdyn's spiral field in LibTorch operations, beside the fused one (core::mlp) it uses by default.
        unfused = Deepdyn(args.bench_binary, path, "--unfused") if "spiral" in groups else None
    try:
        sides.insert(0, ("deepdyn", deepdyn.cases(names)))
        if unfused:
            sides.insert(1, ("deepdyn_ops", unfused.cases([n for n in names if n.startswith("spiral.")])))
        reference = deepdyn.request("spiral.reference", True)["values"] if "spiral" in groups else None
        results, among_peers = run(sides, names, args.rounds, reference)
    finally:
        deepdyn.close()
        if unfused:
            unfused.close()

    p = problem["deq"]
    deepdyn_notes = {
        "spiral": "deepdyn: the field is core::mlp (fused kernels; deepdyn_ops: the same network in LibTorch "
                  "operations with core::tanh); dopri5 with its default I controller (safety 0.9, factors [0.2, 10], no shrinking "
                  "after an accepted step), Hairer's first step; the fused net gives its own vector-Jacobian product "
                  "(SolveOptions::vjp), so direct is the tapeless sweep over the stored stages (NFE bwd = its VJPs; "
                  "deepdyn_ops: autograd's tape) and adjoint = ode::Adjoint with a backward field that records no "
                  "graph, full norm (every adjoint component controlled).",
        "deq": "deepdyn DEQ: the fused cell deq::TanhCell, tanh(W z + u) on the injection u = U x + b computed "
               "once per solve, with its own VJP for the implicit backward (DEQOptions::vjp: no graph per "
               "iteration); stops when every sample's ||f(z) - z|| / ||f(z)|| <= tol (ResidualNorm::Relative); "
               f"Broyden memory {p['broyden_memory']}, Anderson memory {p['anderson_memory']} (lambda 1e-4 relative "
               "to the Gram matrix's scale); the implicit backward starts at u = dL/dz; the output is f(z*) (one "
               "more f call). Iterations = evaluations of the solver's map - 1; NFE bwd = evaluations of "
               "u -> u J + dL/dz (one VJP each).",
        "ffjord": "deepdyn FFJORD: cnf::ODENet's forward-mode divergence (core::mlp_divergence) with the problem's "
                  "probe (ffjord.train) or over both unit vectors (ffjord.exact), integrate_flow by dopri5 with "
                  "ode::Adjoint (full norm), whose backward field is the net's own vector-Jacobian product "
                  "(ODENet::divergence_vjp: no graph per evaluation). loss rel: the losses of 10 Adam steps "
                  "(lr 1e-3) from the same weights, on the same points and probe, against the peer's.",
    }
    notes = [deepdyn_notes[g] for g in groups] + notes
    config = {
        "rounds": args.rounds,
        "threads": 1,
        "ratio": "median over rounds of (deepdyn time / peer time) in the same round",
        "deepdyn_libtorch": deepdyn.hello["libtorch"],
        "deepdyn_threads": deepdyn.hello["threads"],
        "python": platform.python_version(),
        "versions": {p: version(p) for p in ("torch", "torchdiffeq", "diffrax", "jax", "jaxlib", "torchdeq")},
        "spiral": {"batch": problems.SPIRAL_BATCH, "t1": problem["spiral"]["t1"], "rtol": problem["spiral"]["rtol"],
                   "atol": problem["spiral"]["atol"], "method": "dopri5", "loss": "mean(y(T)^2)"},
        "deq": {"width": problems.DEQ_WIDTH, "input": problems.DEQ_INPUT, "batch": problems.DEQ_BATCH,
                "spectral_norm_W": problems.DEQ_SPECTRAL_NORM, "forward": p["forward"], "backward": p["backward"],
                "stop": "relative residual per sample", "loss": "mean(z*^2)"},
        "ffjord": {"batch": problems.FFJORD_BATCH, "widths": problems.FFJORD_WIDTHS, "t1": problem["ffjord"]["t1"],
                   "rtol": problem["ffjord"]["rtol"], "atol": problem["ffjord"]["atol"], "method": "dopri5",
                   "trace": "ffjord.train: hutchinson, fixed gaussian probe; ffjord.exact: exact",
                   "loss": "-mean(log p(x))", "trajectory": "10 Adam steps, lr 1e-3"},
        "seed": args.seed,
        "spiral_init": args.spiral_init,
    }
    print_table(results, among_peers, config, notes)
    print_json_lines(results, args.rounds)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": config, "results": results, "among_peers": among_peers, "notes": notes}, f,
                      indent=1)


def run(sides, names, rounds, reference):
    """Warm-up (values for the agreement check, jit compilation), then interleaved rounds.
    `reference`: the spiral's y(T) and gradient in float64 at rtol 1e-12, to measure each side's error."""
    values, runs = {}, {}
    for side, cases in sides:
        for name, case in cases.items():
            values[side, name] = case(True)["values"]
            for _ in range(WARMUP):
                case(False)
            runs[side, name] = []
    for r in range(rounds):
        for name in names:
            # Rotate the order each round, so that no side always runs right after another.
            order = [s for s in sides if name in s[1]]
            order = order[r % len(order):] + order[:r % len(order)]
            for side, cases in order:
                runs[side, name].append(cases[name](False))

    results = []
    for name in names:
        ours = runs["deepdyn", name]
        for side, cases in sides:
            if name not in cases:
                continue
            mine = runs[side, name]
            times = [m["seconds"] for m in mine]
            row = {
                "case": name,
                "side": side,
                "median_ms": 1e3 * statistics.median(times),
                "min_ms": 1e3 * min(times),
                "times_ms": [1e3 * t for t in times],
                "nfe": mine[-1]["nfe"],
                "nfe_backward": mine[-1]["nfe_backward"],
            }
            for key in ("iterations", "iterations_backward", "steps", "steps_backward", "converged",
                        "converged_backward"):
                if key in mine[-1]:
                    row[key] = mine[-1][key]
            if name.startswith("spiral."):
                row["error_vs_reference"] = agreement(values[side, name], reference)
            if side != "deepdyn":
                row["ratio"] = statistics.median(o["seconds"] / m["seconds"] for o, m in zip(ours, mine))
                row["agreement"] = agreement(values["deepdyn", name], values[side, name])
            results.append(row)
    # How closely the peers agree with one another: the floor of any side's agreement with them.
    peers = [side for side, _ in sides if side not in OURS]
    among_peers = [{"case": name, "sides": [a, b], **agreement(values[a, name], values[b, name])}
                   for name in names for i, a in enumerate(peers) for b in peers[i + 1:]
                   if (a, name) in values and (b, name) in values]
    return results, among_peers


def describe(agreement):
    return "  ".join(f"{k[len('max_rel_'):]} rel {v:.1e}" for k, v in agreement.items() if k.startswith("max_rel"))


def print_table(results, among_peers, config, notes):
    print(f"deepdyn (LibTorch {config['deepdyn_libtorch']}, {config['deepdyn_threads']} thread) against "
          + ", ".join(f"{k} {v}" for k, v in config["versions"].items() if v)
          + f"; {config['rounds']} rounds, one thread each")
    print(f"ratio = {config['ratio']}; agreement = max |y_deepdyn - y_peer| / max |y_peer| (y(T) or f(z*)), "
          "the same over all parameter gradients together;")
    if any("error_vs_reference" in row for row in results):
        print("ref = each side's own error, the same two measures against a float64 dopri5 solve at rtol 1e-12, "
              "atol 1e-14 (direct backprop)")
    header = f"{'case':<21}{'side':<13}{'median ms':>10}{'min ms':>9}{'NFE fwd':>9}{'NFE bwd':>9}" \
             f"{'steps/iters':>13}{'deepdyn/peer':>14}  agreement"
    print(header)
    print("-" * len(header))
    previous = None
    for row in results:
        agree = row.get("agreement", {})
        text = describe(agree)
        if "error_vs_reference" in row:
            text = "ref " + "/".join(f"{v:.1e}" for v in row["error_vs_reference"].values()) + ("  " + text if text else "")
        if row.get("converged") is False or row.get("converged_backward") is False:
            text += "  (deepdyn: not converged)"
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "-"
        if "iterations" in row:
            steps = f"{row['iterations']}/{row['iterations_backward']}" if row["case"].endswith("train") \
                else str(row["iterations"])
        elif "steps" in row:
            steps = f"{row['steps']}/{row['steps_backward']}" if row.get("steps_backward") else str(row["steps"])
        else:
            steps = "-"
        print(f"{row['case'] if row['case'] != previous else '':<21}{row['side']:<13}{row['median_ms']:>10.2f}"
              f"{row['min_ms']:>9.2f}{row['nfe']:>9}{row['nfe_backward']:>9}{steps:>13}{ratio:>14}  {text}")
        previous = row["case"]
    if among_peers:
        print("the peers among themselves, in the same measures:")
        for pair in among_peers:
            print(f"  {pair['case']:<19}{' vs '.join(pair['sides']):<26}  {describe(pair)}")
    print("notes:")
    for note in notes:
        print(f"  - {note}")


def print_json_lines(results, rounds):
    """One JSON object per case and peer, for programs: times in seconds (medians over the rounds),
    ratio = the median of the per-round deepdyn / peer."""
    ours = {row["case"]: row for row in results if row["side"] == "deepdyn"}
    for row in results:
        if row["side"] == "deepdyn":
            continue
        mine = ours[row["case"]]
        print(json.dumps({"case": row["case"], "peer": row["side"], "deepdyn_s": mine["median_ms"] / 1e3,
                          "peer_s": row["median_ms"] / 1e3, "ratio": row["ratio"],
                          "nfe_deepdyn": mine["nfe"] + mine["nfe_backward"],
                          "nfe_peer": row["nfe"] + row["nfe_backward"], "rounds": rounds}))


if __name__ == "__main__":
    main()
