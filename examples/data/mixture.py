#!/usr/bin/env python3
"""Writes points of a 3-D Gaussian mixture for `deepdyn train cnf`, and prints the true
density's mean negative log-likelihood over them: the number a perfect flow's held-out NLL
estimates.

    python3 examples/data/mixture.py --out mixture.csv [--points 10000]

Four components with equal weights, each with its own mean and per-axis standard deviations
(in the data's units: the flow standardises them). The CSV has the header x,y,z and one point
per row. Python's standard library only.
"""
import argparse
import math
import random

COMPONENTS = [  # (mean, standard deviations)
    ((0.0, 0.0, 0.0), (1.0, 0.3, 0.3)),
    ((4.0, 2.0, -1.0), (0.5, 0.5, 1.5)),
    ((-3.0, 3.0, 2.0), (0.8, 0.2, 0.6)),
    ((1.0, -4.0, 3.0), (0.4, 1.0, 0.4)),
]


def log_density(point):
    terms = []
    for mean, std in COMPONENTS:
        log_p = -math.log(len(COMPONENTS))
        for x, m, s in zip(point, mean, std):
            log_p += -0.5 * ((x - m) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi)
        terms.append(log_p)
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    total = 0.0
    with open(args.out, "w") as out:
        out.write("x,y,z\n")
        for _ in range(args.points):
            mean, std = rng.choice(COMPONENTS)
            point = [rng.gauss(m, s) for m, s in zip(mean, std)]
            total -= log_density(point)
            out.write(",".join(f"{v:.6f}" for v in point) + "\n")
    nll = total / args.points
    print(f"true density's mean NLL over the {args.points} points: {nll:.4f} nats, "
          f"{nll / (3 * math.log(2)):.4f} bits/dim")


if __name__ == "__main__":
    main()
