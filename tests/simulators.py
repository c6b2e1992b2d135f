"""Count simulators shared by the family tests (log densities, recovery) and the count-panel tests
(tests/model/test_likelihoods.py, tests/sampler/test_coordinates.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def nb_draws(rng, mu, phi):
    """NB2 draws: scipy's nbinom(n=phi, p=phi/(phi+mu))."""
    return rng.negative_binomial(phi, phi / (phi + mu))


def zero_truncated(rng, draw, mu):
    """Draws of ``draw(mu)`` conditioned on being positive (redrawn until positive)."""
    out = draw(mu)
    while np.any(out == 0):
        zero = out == 0
        out[zero] = draw(mu[zero])
    return out


PANEL_FORMULA = "y ~ a + b + c + (1 | id)"
PANEL_TRUTH = {"Intercept": -1.6, "a": 0.3, "b": 0.5, "c": -0.4, "sd__Intercept": 1.0, "phi": 0.5}


def count_panel(levels: int, family: str = "negbinomial", seed: int = 1) -> pd.DataFrame:
    """A count panel (COUNT's rwm5yr shape): ``levels`` levels of ``id`` with 1-5 rows each, ``b`` constant within
    levels, about 80% zeros (NB2 with ``phi`` 0.5)."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(levels), rng.choice(np.arange(1, 6), size=levels, p=[0.1, 0.15, 0.2, 0.25, 0.3]))
    a, c = rng.normal(size=g.size), rng.integers(0, 2, g.size).astype(float)
    b = rng.integers(0, 2, levels)[g].astype(float)
    eta = (PANEL_TRUTH["Intercept"] + PANEL_TRUTH["a"] * a + PANEL_TRUTH["b"] * b + PANEL_TRUTH["c"] * c
           + rng.normal(0.0, PANEL_TRUTH["sd__Intercept"], levels)[g])
    if family == "negbinomial":
        y = rng.poisson(rng.gamma(PANEL_TRUTH["phi"], np.exp(eta) / PANEL_TRUTH["phi"]))
    else:
        y = rng.poisson(np.exp(eta))
    return pd.DataFrame({"y": y, "a": a, "b": b, "c": c, "id": pd.Categorical(g)})
