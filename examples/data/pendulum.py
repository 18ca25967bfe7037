#!/usr/bin/env python3
"""Writes a damped pendulum data set for `deepdyn train node`: trajectories of
theta'' = -(g/L) sin(theta) - c theta' observed at irregular times with Gaussian noise.

    python3 examples/data/pendulum.py --out pendulum.csv [--noise 0.02] [--trajectories 40]

The CSV has the header trajectory,t,theta,omega and one row per observation. Each trajectory
starts at a random angle and angular velocity and is observed at `points` uniformly random times
on [0, duration] (the first at t = 0). The true states come from RK4 with step 1e-3 between
observations (its error, about 1e-12, is far below the noise). Python's standard library only.
"""
import argparse
import math
import random

G_OVER_L = 4.0  # (rad/s)^2: a period of about pi seconds at small angles
DAMPING = 0.25  # 1/s


def field(theta, omega):
    return omega, -G_OVER_L * math.sin(theta) - DAMPING * omega


def rk4(theta, omega, duration, step=1e-3):
    steps = max(1, math.ceil(duration / step))
    h = duration / steps
    for _ in range(steps):
        k1 = field(theta, omega)
        k2 = field(theta + h / 2 * k1[0], omega + h / 2 * k1[1])
        k3 = field(theta + h / 2 * k2[0], omega + h / 2 * k2[1])
        k4 = field(theta + h * k3[0], omega + h * k3[1])
        theta += h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
        omega += h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return theta, omega


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--noise", type=float, default=0.02, help="standard deviation of the observation noise")
    parser.add_argument("--trajectories", type=int, default=40)
    parser.add_argument("--points", type=int, default=60, help="observations per trajectory")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds observed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w") as out:
        out.write("trajectory,t,theta,omega\n")
        for k in range(args.trajectories):
            # below the separatrix (energy < 2 g/L): every trajectory swings, none goes over the top
            theta, omega = rng.uniform(-2.0, 2.0), rng.uniform(-1.0, 1.0)
            times = [0.0] + sorted(rng.uniform(0, args.duration) for _ in range(args.points - 1))
            now = 0.0
            for t in times:
                theta, omega = rk4(theta, omega, t - now)
                now = t
                out.write(f"{k},{t:.6f},{theta + rng.gauss(0, args.noise):.6f},{omega + rng.gauss(0, args.noise):.6f}\n")


if __name__ == "__main__":
    main()
