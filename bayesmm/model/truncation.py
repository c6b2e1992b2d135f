"""Predictions of a truncated response, ``y | trunc(lb, ub)``: the truncated distribution's mean and draws inside the
bounds (numpy and scipy, from the parameters of the family's numpyro distribution).

A model fitted with ``trunc()`` says that values outside ``[lb, ub]`` are never observed, so its expected response
is ``E[Y | lb <= Y <= ub]`` and its draws lie inside the bounds, as brms's ``posterior_epred`` and
``posterior_predict`` of a truncated model give them. The interval is ``(lower, upper]``: ``(lb, ub]`` for a
continuous family, ``(lb - 1, ub]`` for counts (the whole numbers ``lb .. ub``).

* The mean is the partial expectation ``int_(lower, upper] y dF`` over the interval's mass ``Z``, each in closed
  form: gaussian ``mu Z + sigma (phi(alpha) - phi(beta))``; student_t ``mu Z + sigma (g(alpha) - g(beta))``,
  ``g(t) = (nu + t^2) f_nu(t) / (nu - 1)`` (an open side needs ``nu > 1``); lognormal
  ``exp(mu + sigma^2 / 2)`` times the normal mass shifted by ``sigma``; gamma (and exponential, shape 1)
  ``shape / rate`` times the mass of a gamma with shape ``+ 1``; weibull ``scale Gamma(1 + 1 / k)`` times the mass
  of a gamma with shape ``1 + 1 / k`` between ``(lower / scale)^k`` and ``(upper / scale)^k``; poisson and negative
  binomial from ``k p(k) = mu p'(k - 1)``, ``p'`` the poisson itself or the negative binomial with size ``+ 1``.
  Where ``Z`` underflows to 0 the mean is the bound nearest the untruncated mean.
* Draws are inverse-CDF draws, ``F^-1(F(lower) + u (F(upper) - F(lower)))``, through the survival function where
  the interval lies in the upper tail, so that neither tail loses its precision.
"""
from __future__ import annotations

import numpy as np
from scipy import special, stats

from .cdfs import DISCRETE
from .means import OutsideRange

__all__ = ["TRUNCATABLE", "truncated_quantity"]


def _values(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _negative_binomial(law, extra_size: float = 0.0):
    phi, mu = _values(law.concentration), _values(law.mean)
    return stats.nbinom(phi + extra_size, phi / (phi + mu))


#: family -> scipy's frozen distribution of the family's numpyro distribution (vectorised over its parameters)
_SCIPY = {
    "gaussian": lambda law: stats.norm(_values(law.loc), _values(law.scale)),
    "student_t": lambda law: stats.t(_values(law.df), _values(law.loc), _values(law.scale)),
    "lognormal": lambda law: stats.lognorm(_values(law.scale), scale=np.exp(_values(law.loc))),
    "gamma": lambda law: stats.gamma(_values(law.concentration), scale=1.0 / _values(law.rate)),
    "weibull": lambda law: stats.weibull_min(_values(law.concentration), scale=_values(law.scale)),
    "exponential": lambda law: stats.expon(scale=1.0 / _values(law.rate)),
    "poisson": lambda law: stats.poisson(_values(law.rate)),
    "negbinomial": _negative_binomial,
    "nbinom1": _negative_binomial,
}
#: the families whose predictions follow trunc()
TRUNCATABLE = tuple(_SCIPY)


def _mass(cdf, sf, lower, upper) -> np.ndarray:
    """``P(lower < Y <= upper)`` by the CDF in the lower half and the survival function in the upper one."""
    from_below = cdf(lower) <= 0.5
    return np.where(from_below, cdf(upper) - cdf(lower), sf(lower) - sf(upper))


def _frozen_mass(frozen, lower, upper) -> np.ndarray:
    return _mass(frozen.cdf, frozen.sf, lower, upper)


def _gamma_mass(shape, lower, upper) -> np.ndarray:
    """Mass of a unit-rate gamma with ``shape`` in ``(lower, upper]`` (ends at or below 0 read as 0)."""
    lower, upper = np.maximum(lower, 0.0), np.maximum(upper, 0.0)
    return _mass(lambda x: special.gammainc(shape, x), lambda x: special.gammaincc(shape, x), lower, upper)


def _standard(lower, upper, loc, scale):
    return (lower - loc) / scale, (upper - loc) / scale


def _t_term(t, nu) -> np.ndarray:
    """``(nu + t^2) f_nu(t) / (nu - 1)``, 0 at an infinite ``t`` (where ``nu > 1``; else infinite)."""
    finite = np.isfinite(t)
    inner = np.where(finite, t, 0.0)
    value = (nu + inner ** 2) * stats.t.pdf(inner, nu) / (nu - 1.0)
    return np.where(finite, value, np.where(nu > 1, 0.0, np.inf))


def _partial_expectation(family: str, law, lower, upper) -> np.ndarray:
    """``int_(lower, upper] y dF`` (the module docstring's closed forms)."""
    if family == "gaussian":
        mu, sigma = _values(law.loc), _values(law.scale)
        alpha, beta = _standard(lower, upper, mu, sigma)
        return mu * _frozen_mass(stats.norm, alpha, beta) + sigma * (stats.norm.pdf(alpha) - stats.norm.pdf(beta))
    if family == "student_t":
        nu, mu, sigma = _values(law.df), _values(law.loc), _values(law.scale)
        alpha, beta = _standard(lower, upper, mu, sigma)
        return mu * _frozen_mass(stats.t(nu), alpha, beta) + sigma * (_t_term(alpha, nu) - _t_term(beta, nu))
    if family == "lognormal":
        mu, sigma = _values(law.loc), _values(law.scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = [np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), -np.inf) for v in (lower, upper)]
        alpha, beta = _standard(logs[0], logs[1], mu + sigma ** 2, sigma)
        return np.exp(mu + sigma ** 2 / 2) * _frozen_mass(stats.norm, alpha, beta)
    if family in ("gamma", "exponential"):
        shape = _values(law.concentration) if family == "gamma" else 1.0
        rate = _values(law.rate)
        return shape / rate * _gamma_mass(shape + 1.0, rate * lower, rate * upper)
    if family == "weibull":
        k, scale = _values(law.concentration), _values(law.scale)
        ends = [np.where(v > 0, (np.maximum(v, 0.0) / scale) ** k, 0.0) for v in (lower, upper)]
        return scale * special.gamma(1 + 1 / k) * _gamma_mass(1 + 1 / k, *ends)
    mu = _values(law.mean)
    shifted = stats.poisson(mu) if family == "poisson" else _negative_binomial(law, 1.0)
    return mu * _frozen_mass(shifted, lower - 1.0, upper - 1.0)


def _draws(frozen, lower, upper, rng) -> np.ndarray:
    """Inverse-CDF draws inside ``(lower, upper]``: ``u`` in ``(0, 1]``, through the survival function in the upper
    tail."""
    u = 1.0 - rng.random(np.broadcast_shapes(np.shape(frozen.mean()), np.shape(lower)))
    cdf_lower, sf_lower = frozen.cdf(lower), frozen.sf(lower)
    from_below = cdf_lower <= 0.5
    with np.errstate(invalid="ignore"):
        by_cdf = frozen.ppf(np.where(from_below, cdf_lower + u * (frozen.cdf(upper) - cdf_lower), 0.5))
        by_sf = frozen.isf(np.where(from_below, 0.5, sf_lower - u * (sf_lower - frozen.sf(upper))))
    return np.where(from_below, by_cdf, by_sf)


def truncated_quantity(family: str, law, lower, upper, kind: str, seed: int = 0) -> np.ndarray:
    """The truncated distribution's mean (``kind="mean"``) or one draw per entry (``"response"``) of ``law`` (the
    family's numpyro distribution, draws x rows) given the rows' truncation bounds ``lower``, ``upper`` (brms's
    ``lb``, ``ub``: ``-inf``/``inf`` where a side is open)."""
    if isinstance(law, OutsideRange):
        law = law.base_dist
    discrete = family in DISCRETE
    lower = _values(lower) - (1.0 if discrete else 0.0)
    upper = _values(upper)
    frozen = _SCIPY[family](law)
    untruncated = _values(frozen.mean())
    smallest = lower + 1.0 if discrete else lower
    with np.errstate(all="ignore"):
        mass = _frozen_mass(frozen, lower, upper)
        if kind == "mean":
            value = _partial_expectation(family, law, lower, upper) / mass
        else:
            value = _draws(frozen, lower, upper, np.random.default_rng(seed))
    nearest = np.where(untruncated > upper, upper, smallest)
    return np.clip(np.where(mass > 0, value, nearest), smallest, upper)
