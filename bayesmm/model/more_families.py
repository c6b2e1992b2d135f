"""Likelihoods of the families added beside :mod:`.likelihoods`'s table: the time-to-event families ``weibull``
and ``exponential``; the hurdle, zero-inflated, zero-one-inflated and ordered-beta families of
:mod:`.inflations`; the Conway-Maxwell-Poisson of :mod:`.com_poisson`.

Each function has the signature of :data:`.likelihoods.LIKELIHOODS`'s entries, ``(eta, link, aux, trials) ->
numpyro distribution``, and :data:`MORE_LIKELIHOODS` is merged into that table.

Parameterisations follow brms (``brms::weibull``, ``brms::exponential``): the linear predictor gives the mean
``mu``; the Weibull's scale is ``mu / Gamma(1 + 1 / shape)`` (formed on the log scale, ``log mu -
lgamma(1 + 1 / shape)``, so no gamma function overflows), the exponential's rate is ``1 / mu``. Identity and
inverse links keep the mean positive as gamma's do (:func:`.means.mean_in_range`: log density ``-inf`` where
``eta <= 0``).
"""
from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.special as jsp
import numpyro.distributions as dist

from .com_poisson import ComPoisson
from .inflations import ContinuousHurdle, InflatedZeros, OrderedBeta, ZeroOneInflatedBeta
from .means import mean_in_range, restricted

__all__ = ["MORE_LIKELIHOODS", "weibull_likelihood", "exponential_likelihood", "weibull_log_scale"]


def _log_mean(eta, link):
    """(log mu, barrier): on the log link ``eta`` itself, so the scale keeps its precision for any ``eta``."""
    if link == "log":
        return eta, None
    mu, barrier = mean_in_range(eta, link)
    return jnp.log(mu), barrier


def weibull_log_scale(log_mu, shape):
    """``log(mu / Gamma(1 + 1 / shape))``: the Weibull scale whose mean is ``mu``."""
    return log_mu - jsp.gammaln(1.0 + 1.0 / shape)


def weibull_likelihood(eta, link, aux, trials):
    """``Weibull(shape, scale = mu / Gamma(1 + 1 / shape))``: mean ``mu``."""
    log_mu, barrier = _log_mean(eta, link)
    shape = aux["shape"]
    return restricted(dist.Weibull(jnp.exp(weibull_log_scale(log_mu, shape)), shape), barrier)


def exponential_likelihood(eta, link, aux, trials):
    """``Exponential(rate = 1 / mu)``."""
    log_mu, barrier = _log_mean(eta, link)
    return restricted(dist.Exponential(jnp.exp(-log_mu)), barrier)


def _zero_inflated_binomial(eta, link, aux, trials):
    return InflatedZeros(dist.BinomialLogits(eta, total_count=trials), aux["zi"])


def _hurdle_gamma(eta, link, aux, trials):
    """brms's hurdle_gamma: Gamma(shape, rate = shape / mu) above 0, log link."""
    shape = aux["shape"]
    return ContinuousHurdle(dist.Gamma(shape, shape * jnp.exp(-eta)), aux["hu"])


def _hurdle_lognormal(eta, link, aux, trials):
    """brms's hurdle_lognormal: ``eta`` the mean of log y above 0."""
    return ContinuousHurdle(dist.LogNormal(eta, aux["sigma"]), aux["hu"])


def _zero_one_inflated_beta(eta, link, aux, trials):
    return ZeroOneInflatedBeta(eta, aux["phi"], aux["zoi"], aux["coi"])


def _ordbeta(eta, link, aux, trials):
    """Cut points ``cutzero`` and ``cutzero + cutgap`` (ordered by construction)."""
    return OrderedBeta(eta, aux["phi"], aux["cutzero"], aux["cutzero"] + aux["cutgap"])


def _com_poisson(eta, link, aux, trials):
    """brms's com_poisson: ``mu = exp(eta)``, ``nu`` its ``shape`` (:mod:`.com_poisson`)."""
    return ComPoisson(jnp.exp(eta), aux["shape"])


MORE_LIKELIHOODS = {
    "weibull": weibull_likelihood,
    "exponential": exponential_likelihood,
    "zero_inflated_binomial": _zero_inflated_binomial,
    "hurdle_gamma": _hurdle_gamma,
    "hurdle_lognormal": _hurdle_lognormal,
    "zero_one_inflated_beta": _zero_one_inflated_beta,
    "ordbeta": _ordbeta,
    "com_poisson": _com_poisson,
}
