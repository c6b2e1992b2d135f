"""Gaussian AR(1) random effects at scale: 1,000 series of 50 equally spaced times, ``y ~ 1 + x + ar1(t + 0 | g)``
(50,000 rows, 50,000 random-effect coefficients integrated out level by level on the AR(1)'s tridiagonal precision).
Prints end-to-end wall time (compilation included), the smallest bulk ESS of the hyperparameters and fixed effects,
and whether the 95% intervals cover the simulated truths.

    python benchmarks/structures.py [--groups 1000] [--times 50] [--chains 2] [--draws 500]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import bayesmm as bmm

TRUTH = {"Intercept": 1.0, "x": 0.5, "sd__t": 1.0, "ar1__rho": 0.8, "sd__Observation": 0.5}


def simulate(groups: int, times: int, seed: int = 1) -> pd.DataFrame:
    """AR(1) effects per series (rho 0.8, SD 1) by the recursion, plus a slope and gaussian noise (SD 0.5)."""
    rng = np.random.default_rng(seed)
    effects = np.zeros((groups, times))
    effects[:, 0] = rng.normal(size=groups)
    for t in range(1, times):
        effects[:, t] = TRUTH["ar1__rho"] * effects[:, t - 1] + np.sqrt(1 - TRUTH["ar1__rho"] ** 2) * rng.normal(size=groups)
    frame = pd.DataFrame({"g": np.repeat(np.arange(groups), times), "t": np.tile(np.arange(times), groups)})
    frame["x"] = rng.normal(size=len(frame))
    frame["y"] = (TRUTH["Intercept"] + TRUTH["x"] * frame.x + effects[frame.g, frame.t]
                  + TRUTH["sd__Observation"] * rng.normal(size=len(frame)))
    return frame


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--times", type=int, default=50)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    args = parser.parse_args()
    frame = simulate(args.groups, args.times)
    start = time.perf_counter()
    fit = bmm.fit("y ~ 1 + x + ar1(t + 0 | g)", frame, chains=args.chains, draws=args.draws, warmup=args.draws, seed=1)
    wall = time.perf_counter() - start
    table = fit.tidy()
    print(f"{args.groups} series x {args.times} times ({len(frame)} rows), {args.chains} chains x "
          f"({args.draws} warmup + {args.draws} draws); plan: {fit.plan.line()}")
    print("| term | estimate | 95% interval | truth | bulk ESS |\n|---|---|---|---|---|")
    for row in table.itertuples():
        print(f"| {row.term} | {row.estimate:.3f} | [{row.conf_low:.3f}, {row.conf_high:.3f}] | "
              f"{TRUTH.get(row.term, float('nan')):g} | {row.ess_bulk:.0f} |")
    print(f"wall time {wall:.1f} s (compilation included); min bulk ESS {table.ess_bulk.min():.0f}; "
          f"min bulk ESS per second {table.ess_bulk.min() / wall:.1f}")


if __name__ == "__main__":
    main()
