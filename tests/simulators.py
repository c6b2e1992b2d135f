"""Count simulators shared by the family tests (log densities, recovery)."""
from __future__ import annotations

import numpy as np


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
