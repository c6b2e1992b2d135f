"""Per-draw expected responses and response draws, from the same likelihood table the sampler uses.

:func:`response_quantity` evaluates the observation distribution of a family at given linear predictors and
family parameters (one row per posterior draw) and returns, as numpy arrays, either its mean (brms's
``posterior_epred``) or one random draw per entry (brms's ``posterior_predict``). It lives in the model
stage because it builds numpyro distributions; ``bayesmm.answers.predict`` and ``bayesmm.answers.checks`` call it with
numpy arrays and get numpy arrays back.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .backend import use_float64
from .likelihoods import OutsideRange, likelihood
from .truncation import truncated_quantity


__all__ = ["response_quantity"]


def _mean(family: str, law):
    """E[y | parameters]: the distribution's mean, except student_t (``mu``, as brms, whatever ``nu``) and
    the gamma barrier wrapper (its base distribution's mean)."""
    if isinstance(law, OutsideRange):
        law = law.base_dist
    if family == "student_t":
        return law.loc
    return law.mean


def response_quantity(family: str, link: str, eta: np.ndarray, aux: dict, trials=None, kind: str = "mean",
                      seed: int = 0, truncation=None) -> np.ndarray:
    """``kind="mean"``: the expected response at linear predictor ``eta`` (draws x rows) and family parameters
    ``aux`` (name -> per-draw vector, or draws x rows for parameters with their own formula);
    ``kind="response"``: one draw of the response per entry, seeded by ``seed``; ``kind="probs"`` (ordinal and
    categorical families): each category's probability (draws x rows x categories). A categorical family's ``eta``
    is draws x rows x (categories but the reference). ``trials`` (rows) are the
    binomial trials; binomial means and draws are counts of successes, as brms's. ``truncation``: the rows'
    ``(lb, ub)`` of a model fitted with ``trunc()``, whose means and draws are the truncated distribution's
    (:mod:`.truncation`)."""
    use_float64()
    eta = jnp.asarray(eta, dtype=jnp.float64)
    params = {}
    for name, value in aux.items():
        value = jnp.asarray(value, dtype=jnp.float64)
        params[name] = value[:, None] if value.ndim == 1 else value
    # numpyro's binomial sampler indexes a table by the trials: they must be integers to draw
    total = None if trials is None else jnp.asarray(trials, dtype=jnp.float64 if kind == "mean" else jnp.int64)
    law = likelihood(family, link, eta, params, total)
    if truncation is not None and kind in ("mean", "response"):
        return truncated_quantity(family, law, truncation[0], truncation[1], kind, seed)
    if kind == "mean":
        value = _mean(family, law)
    elif kind == "probs":  # ordinal: each category's probability, draws x rows x categories
        return np.asarray(law.probs, dtype=float)
    else:
        value = law.sample(jax.random.PRNGKey(int(seed)))
    shape = eta.shape[:-1] if family == "categorical" else eta.shape  # categorical: eta's last axis the categories
    return np.asarray(jnp.broadcast_to(value, shape), dtype=float)
