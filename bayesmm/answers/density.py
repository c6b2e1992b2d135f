"""Where the posterior of a positive parameter (an SD) piles up: its density at zero and its mode."""
from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["density_at_zero_and_mode", "MODE_TOLERANCE"]

#: how far below its maximum the density may be at the point read as its mode (see density_at_zero_and_mode)
MODE_TOLERANCE = 0.1


def density_at_zero_and_mode(draws: np.ndarray) -> tuple[float, float]:
    """Kernel density of positive draws, reflected at zero, with Silverman's robust bandwidth (so a long right
    tail does not smear mass onto zero): its value at zero and the location of its maximum.

    The maximum's location is read as the lowest point where the density comes within ``MODE_TOLERANCE``
    of its maximum: on a flat top the estimate's Monte Carlo noise (about 6% at 2,000 draws) moves the
    highest point around: a bump 1% above the density at zero, 0.01 away from it, must not move the mode
    off the boundary."""
    x = np.sort(draws[np.isfinite(draws)])
    if x.size < 10 or np.ptp(x) == 0:
        return 0.0, float(np.median(x)) if x.size else 0.0
    spread = min(np.std(x), (np.quantile(x, 0.75) - np.quantile(x, 0.25)) / 1.34) or np.std(x)
    bandwidth = 0.9 * spread * x.size ** -0.2
    grid = np.linspace(0, np.quantile(x, 0.99), 200)
    kernel = (stats.norm.pdf((grid[:, None] - x[None, :]) / bandwidth)
              + stats.norm.pdf((grid[:, None] + x[None, :]) / bandwidth))
    density = kernel.sum(axis=1) / (x.size * bandwidth)
    return float(density[0]), float(grid[np.argmax(density >= (1 - MODE_TOLERANCE) * density.max())])
