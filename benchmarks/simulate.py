"""Simulated large poisson GLMMs with two crossed grouping factors (``memory.py`` and ``gpu.py``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

FORMULA = "y ~ x + (1 | g1) + (1 | g2)"


def crossed_poisson(rows: int, levels1: int = 10_000, levels2: int = 1_000, seed: int = 1) -> pd.DataFrame:
    """``y ~ Poisson(exp(0.5 + 0.3 x + u1[g1] + u2[g2]))`` with SDs 0.5 and 0.3; rows in random order (on a GPU,
    sorting rows by group makes the scatter-add of the gather's gradient contend)."""
    rng = np.random.default_rng(seed)
    g1 = rng.integers(0, levels1, rows)
    g2 = rng.integers(0, levels2, rows)
    x = rng.normal(size=rows)
    eta = 0.5 + 0.3 * x + rng.normal(0, 0.5, levels1)[g1] + rng.normal(0, 0.3, levels2)[g2]
    y = rng.poisson(np.exp(eta))
    return pd.DataFrame({"y": y, "x": x, "g1": pd.Categorical(g1), "g2": pd.Categorical(g2)})
