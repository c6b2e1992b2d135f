"""How often a fit with thousands of random-effect levels shows some level at Rhat >= 1.01 by chance alone.

Each level's draws are simulated as 4 independent, stationary AR(1) chains (the chains do mix: they share one
distribution), with the autocorrelation of a well-mixing sampler's level effects, and their rank-normalised
split Rhat is computed as bayesmm's status line does (``bayesmm.answers.convergence.rank_normalized_rhat``). Prints,
over the replications, how many levels reach 1.01 and the largest Rhat.

    python validation/corpus/level_rhat_chance.py                      # 6,127 levels (COUNT's rwm5yr), phi 0.45
    python validation/corpus/level_rhat_chance.py --levels 4856        # geepack's muscatine
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from bayesmm.answers.convergence import rank_normalized_rhat  # noqa: E402


def simulate(levels: int, phi: float, chains: int, draws: int, rng) -> np.ndarray:
    """(chains, draws, levels) stationary AR(1) draws with unit variance."""
    x = np.empty((chains, draws, levels))
    x[:, 0] = rng.normal(size=(chains, levels))
    scale = np.sqrt(1.0 - phi ** 2)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + scale * rng.normal(size=(chains, levels))
    return x


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, default=6127)
    parser.add_argument("--phi", type=float, default=0.45, help="lag-1 autocorrelation of each chain")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    counts, largest = [], []
    print(f"{args.levels} levels, {args.chains} x {args.draws} draws, AR(1) phi {args.phi}")
    print("replication  levels >= 1.01  largest Rhat")
    for rep in range(args.replications):
        rhat = rank_normalized_rhat(simulate(args.levels, args.phi, args.chains, args.draws, rng))
        counts.append(int(np.sum(rhat >= 1.01)))
        largest.append(float(np.max(rhat)))
        print(f"{rep:11d}  {counts[-1]:14d}  {largest[-1]:12.4f}")
    counts = np.array(counts)
    print(f"fits with some level >= 1.01: {np.mean(counts > 0):.0%}; levels >= 1.01 per fit: mean "
          f"{counts.mean():.1f}, max {counts.max()}; largest Rhat: median {np.median(largest):.4f}, "
          f"max {np.max(largest):.4f}")


if __name__ == "__main__":
    main()
