"""Draws from the prior and the prior predictive distribution of a compiled model (numpyro's Predictive)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import Predictive

from .program import make_model
from .records import ModelData, ModelStructure

__all__ = ["prior_draws"]


def prior_draws(structure: ModelStructure, data: ModelData, draws: int, seed: int) -> dict:
    """Every sample and deterministic site of the (non-marginalised) model drawn from the prior, the response
    ``y`` included: arrays with a leading axis of length ``draws``."""
    predictive = Predictive(make_model(structure), num_samples=int(draws))
    if data.trials is not None:  # numpyro's binomial sampler indexes tables by the trial counts
        data = data._replace(trials=jnp.asarray(np.round(np.asarray(data.trials)), dtype=int))
    out = predictive(jax.random.PRNGKey(int(seed)), data, observed=False)
    return {name: np.asarray(value) for name, value in out.items()}
