"""The jax process settings a model needs, applied when a model is first built, never at import.

bayesmm computes in 64-bit floats (the marginal likelihoods' Cholesky factors and the quadrature's Newton steps
lose too much in float32). :func:`use_float64` switches jax to 64-bit for the rest of the process, the first
time a model's arrays are made (building a model, sampling, prior draws, predictions); it is not switched back,
because arrays made afterwards (a fit's cached programs, predictions) must keep their precision. A session that
needs float32 jax elsewhere should run bayesmm in its own process.
"""
from __future__ import annotations

import jax
import numpyro

__all__ = ["use_float64"]


def use_float64() -> None:
    """64-bit floats for jax from now on in this process (idempotent, cheap)."""
    if not jax.config.jax_enable_x64:
        numpyro.enable_x64()
