"""Simulated data for the two problems where maximum likelihood breaks down (the GLMM FAQ's separation and
singular fits): ``bmm.datasets.simulate("separation")``. Used by the tests, ``validation/priors.py`` and the
teaching notebooks, so that all three show the same numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, closest

__all__ = ["simulate", "SIMULATIONS"]


def separation(seed: int = 2) -> pd.DataFrame:
    """A bernoulli GLMM (``y ~ x + treatment + (1 | g)``): 10 groups x 24 rows, random intercepts SD 0.7,
    slope 0.8 of ``x``; every row of treatment level ``c`` is a success (quasi-complete separation: the
    maximum-likelihood estimate of ``treatment[c]`` is infinite)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(10), 24)
    treatment = np.tile(np.array(["a", "b", "c"]), 80)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(0, 0.7, 10)[g] + np.where(treatment == "b", 0.5, 0.0)
    y = (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(int)
    y[treatment == "c"] = 1
    return pd.DataFrame({"y": y, "x": x, "treatment": treatment, "g": [f"g{i}" for i in g]})


def singular(seed: int = 3) -> pd.DataFrame:
    """A gaussian random-slope design (``y ~ x + (x | g)``) with 5 groups x 30 rows whose intercepts vary
    (SD 1) but whose slopes of ``x`` do not (SD 0); residual SD 1: lme4 reports a singular fit."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(5), 30)
    x = np.tile(np.arange(10.0), 15)
    y = 2 + rng.normal(0, 1.0, 5)[g] + 0.5 * x + rng.normal(0, 1.0, 150)
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g]})


SIMULATIONS = {"separation": separation, "singular": singular}


def simulate(name: str, seed: int | None = None) -> pd.DataFrame:
    """Simulated data set ``name`` (``separation`` or ``singular``), with its documented seed by default."""
    if name not in SIMULATIONS:
        raise DataError(f"No simulated data set '{name}'.{closest(name, SIMULATIONS)} "
                        f"Available: {', '.join(SIMULATIONS)}.")
    frame = SIMULATIONS[name]() if seed is None else SIMULATIONS[name](seed)
    frame.attrs["name"] = f"simulated {name}"
    return frame
