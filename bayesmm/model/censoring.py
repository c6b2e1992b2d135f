"""Censored and truncated likelihoods (jax): :class:`Censored` wraps a family's numpyro distribution.

Each row contributes the log density where it was observed exactly, else the log probability of the interval
``(lower, upper]`` it is known to lie in (left-censored ``(-inf, y]``, right-censored ``(y, inf)``, interval
``(y, y2]``, cut to the truncation range), minus the log probability of the truncation range when there is one;
:func:`model_bounds` builds these intervals from the design's :class:`~bayesmm.censoring.ResponseBounds` (the
rules, as brms's Stan code has them, are in :mod:`bayesmm.censoring`). The interval probability
(:func:`log_interval`) is ``log F(upper) + log1mexp(log F(lower) - log F(upper))`` in the lower tail and the same
with the survival function in the upper tail, so neither side cancels; the log CDFs are :mod:`.cdfs`'s.

The pointwise log-likelihood (LOO, WAIC) is this row's term: the program's replay reads it from the same
distribution. Draws and means are the uncensored family's (brms's ``posterior_predict`` of a censored model
predicts the uncensored response); a truncated model's predictions are the truncated distribution's means and
draws (:mod:`.truncation`, through ``simulate.response_quantity``).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from .arrays import on_device
from .cdfs import DISCRETE, FAMILY_CDFS, log1mexp
from .means import OutsideRange

__all__ = ["Bounds", "Censored", "log_interval", "model_bounds", "LOWER_SUPPORT"]

#: per response kind, the value at or below which a family has no mass (a count below 0, a time at 0)
LOWER_SUPPORT = {"count": -1.0, "positive": 0.0, "real": -np.inf}


class Bounds(NamedTuple):
    """Per row: observed exactly (``exact``), else known to lie in ``(lower, upper]``; the truncation range
    ``(trunc_lower, trunc_upper]`` (None without truncation). Infinite ends are ``-inf``/``inf``."""

    exact: jnp.ndarray
    lower: jnp.ndarray
    upper: jnp.ndarray
    trunc_lower: jnp.ndarray | None = None
    trunc_upper: jnp.ndarray | None = None


def model_bounds(design, family) -> Bounds | None:
    """The device arrays of the design's censoring and truncation for ``family`` (None without them)."""
    if getattr(design, "bounds", None) is None:
        return None
    exact, lower, upper, truncation = design.bounds.intervals(
        np.asarray(design.y, dtype=float), family.name in DISCRETE, LOWER_SUPPORT[family.response])
    trunc_lower, trunc_upper = (None, None) if truncation is None else (on_device(t, float) for t in truncation)
    return Bounds(on_device(exact), on_device(lower, float), on_device(upper, float), trunc_lower, trunc_upper)


def log_interval(cdfs, lower, upper, inside):
    """``log P(lower < Y <= upper)``; ``cdfs(v) -> (log P(Y <= v), log P(Y > v))``, ``inside``: values inside the
    support, evaluated in place of infinite ends (so that no branch of a ``where`` sees a NaN gradient)."""
    has_lower, has_upper = jnp.isfinite(lower), jnp.isfinite(upper)
    log_f_lower, log_s_lower = cdfs(jnp.where(has_lower, lower, inside))
    log_f_upper, log_s_upper = cdfs(jnp.where(has_upper, upper, inside))
    both = has_lower & has_upper
    lower_tail = log_f_upper <= log_s_lower  # F(upper) <= S(lower): the interval's mass is in the lower tail
    by_cdf = jnp.where(both & lower_tail, jnp.minimum(log_f_lower - log_f_upper, -1e-300), -1.0)
    by_survival = jnp.where(both & ~lower_tail, jnp.minimum(log_s_upper - log_s_lower, -1e-300), -1.0)
    between = jnp.where(lower_tail, log_f_upper + log1mexp(by_cdf), log_s_lower + log1mexp(by_survival))
    return jnp.where(both, between, jnp.where(has_lower, log_s_lower, jnp.where(has_upper, log_f_upper, 0.0)))


class Censored(dist.Distribution):
    """``base_dist`` (a family's distribution, an :class:`~.means.OutsideRange` one included) with the rows'
    censoring and truncation (:class:`Bounds`); ``family`` names the log CDFs (:data:`.cdfs.FAMILY_CDFS`).
    ``log_prob(value)`` assumes ``value`` is the response the bounds were built with."""

    pytree_data_fields = ("base_dist", "barrier", "bounds")
    pytree_aux_fields = ("family",)

    def __init__(self, base_dist, family: str, bounds: Bounds, *, validate_args=None):
        self.barrier = None
        if isinstance(base_dist, OutsideRange):
            self.barrier, base_dist = base_dist.barrier, base_dist.base_dist
        self.base_dist, self.family, self.bounds = base_dist, family, bounds
        super().__init__(base_dist.batch_shape, base_dist.event_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return self.base_dist.support

    def log_prob(self, value):
        cdfs, bounds = partial(FAMILY_CDFS[self.family], self.base_dist), self.bounds
        censored = log_interval(cdfs, bounds.lower, bounds.upper, value)
        out = jnp.where(bounds.exact, self.base_dist.log_prob(value), censored)
        if bounds.trunc_lower is not None:
            out = out - log_interval(cdfs, bounds.trunc_lower, bounds.trunc_upper, value)
        return out if self.barrier is None else jnp.where(self.barrier > 0, -self.barrier, out)

    def sample(self, key, sample_shape=()):
        return self.base_dist.sample(key, sample_shape)

    @property
    def mean(self):
        return self.base_dist.mean
