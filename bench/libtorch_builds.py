#!/usr/bin/env python3
"""Times deepdyn's core on two LibTorch builds: runs bench_core of each build in turn (interleaved,
so machine noise hits both alike) and prints, per case, the median over runs of each run's median,
and the ratio B / A. NFE and iteration counts are printed beside: equal counts mean both builds
solved the same problem the same way.

    bench/libtorch_builds.py build-debian/bench/bench_core build/bench/bench_core [--runs 5] [--rounds 9]
"""
import argparse
import json
import os
import statistics
import subprocess


def run(binary, rounds):
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([binary, str(rounds), "--json"], env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="bench_core of build A")
    parser.add_argument("b", help="bench_core of build B")
    parser.add_argument("--runs", type=int, default=5, help="processes per build, alternated")
    parser.add_argument("--rounds", type=int, default=9, help="rounds per process")
    args = parser.parse_args()

    medians = {args.a: {}, args.b: {}}
    counts = {args.a: {}, args.b: {}}
    for _ in range(args.runs):
        for binary in (args.a, args.b):
            for row in run(binary, args.rounds):
                medians[binary].setdefault(row["case"], []).append(row["median_ms"])
                counts[binary][row["case"]] = f'{row["forward"]}/{row["backward"]}'

    print(f"A = {args.a}\nB = {args.b}\n{args.runs} runs x {args.rounds} rounds each, alternated; 1 thread")
    print(f'{"case":34} {"A ms":>9} {"B ms":>9} {"B / A":>7}  counts A | B')
    for case in medians[args.a]:
        a, b = (statistics.median(medians[x][case]) for x in (args.a, args.b))
        print(f"{case:34} {a:9.3f} {b:9.3f} {b / a:7.2f}  {counts[args.a][case]} | {counts[args.b][case]}")


if __name__ == "__main__":
    main()
