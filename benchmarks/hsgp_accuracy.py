"""Accuracy of the Hilbert-space GP approximation (bayesmm.hsgp) against the exact kernels.

Positions: a 25 x 25 grid on the unit square, and 200 points on [0, 1] for one coordinate. The default prior of an
approximated block's length scale is the inverse gamma with 1% below bayesmm.hsgp.LSCALE_FLOOR times the largest
distance and 1% above the largest distance; the default box c is the paper's rule at the prior's median and the
default m the rule at its 1% quantile ("rule m"). For each kernel and length scale (the prior's 1%, 50% and 90%
quantiles), prints the largest absolute difference between the exact correlation and the approximation's over
all pairs of positions, with m basis functions per coordinate and the default c.

    python benchmarks/hsgp_accuracy.py
"""
import numpy as np
from scipy import stats

from bayesmm.hsgp import LSCALE_FLOOR, make_basis, rule_c, rule_m, spectral_density
from bayesmm.structures import correlation, inverse_gamma_tails


def max_error(kind, lscale, positions, m, c):
    basis = make_basis(kind, positions, lscale, c=c, k=m)
    phi = basis.basis(positions)
    approx = (phi * spectral_density(kind, lscale, basis.frequencies())) @ phi.T
    return float(np.max(np.abs(approx - correlation(kind, lscale, positions))))


def main():
    grid = np.linspace(0.0, 1.0, 25)
    spaces = {1: np.linspace(0.0, 1.0, 200)[:, None],
              2: np.stack(np.meshgrid(grid, grid), axis=-1).reshape(-1, 2)}
    ms = (5, 10, 15, 20, 30, 40, 60)
    print("| coordinates | kernel | default c | rule m | lscale (prior quantile) | "
          + " | ".join(f"m = {m}" for m in ms) + " |")
    print("|---|---|---|---|---|" + "---|" * len(ms))
    for dims, positions in spaces.items():
        largest = np.sqrt(dims)
        shape, scale = inverse_gamma_tails(LSCALE_FLOOR * largest, largest)
        quantiles = {q: float(stats.invgamma.ppf(q, shape, scale=scale)) for q in (0.01, 0.5, 0.9)}
        half = np.full(dims, 0.5)
        for kind in ("gau", "mat", "exp"):
            c = rule_c(kind, half, quantiles[0.5])
            rule = rule_m(kind, c, half, quantiles[0.01])[0]
            for q, lscale in quantiles.items():
                errors = [max_error(kind, lscale, positions, m, c) for m in ms]
                print(f"| {dims} | {kind} | {c:.2f} | {rule} | {lscale:.3f} ({q:.0%}) | "
                      + " | ".join(f"{e:.3f}" for e in errors) + " |")


if __name__ == "__main__":
    main()
