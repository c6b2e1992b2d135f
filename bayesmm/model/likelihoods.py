"""Family name -> numpyro likelihood, and link name -> inverse link (jax).

One entry per family: a function ``(eta, aux, trials) -> numpyro distribution`` where ``eta`` is the
linear predictor and ``aux`` holds the family's auxiliary parameters by name.  Logit-link bernoulli and
binomial are parameterised by logits (no probability is ever formed), poisson's log link by its rate.
"""
from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.special as jsp
import numpyro.distributions as dist

__all__ = ["INVERSE_LINKS", "LIKELIHOODS", "likelihood"]

_TINY = 1e-12

INVERSE_LINKS = {
    "identity": lambda eta: eta,
    "log": jnp.exp,
    "logit": jsp.expit,
    "probit": jsp.ndtr,
    "cloglog": lambda eta: -jnp.expm1(-jnp.exp(eta)),
    "inverse": lambda eta: 1.0 / eta,
    "sqrt": jnp.square,
}


def _probability(eta, link):
    return jnp.clip(INVERSE_LINKS[link](eta), _TINY, 1 - _TINY)


def _gaussian(eta, link, aux, trials):
    return dist.Normal(INVERSE_LINKS[link](eta), aux["sigma"])


def _bernoulli(eta, link, aux, trials):
    if link == "logit":
        return dist.BernoulliLogits(eta)
    return dist.BernoulliProbs(_probability(eta, link))


def _binomial(eta, link, aux, trials):
    if link == "logit":
        return dist.BinomialLogits(eta, total_count=trials)
    return dist.BinomialProbs(_probability(eta, link), total_count=trials)


def _poisson(eta, link, aux, trials):
    rate = INVERSE_LINKS[link](eta)
    return dist.Poisson(jnp.maximum(rate, _TINY) if link != "log" else rate)


LIKELIHOODS = {
    "gaussian": _gaussian,
    "bernoulli": _bernoulli,
    "binomial": _binomial,
    "poisson": _poisson,
}


def likelihood(family: str, link: str, eta, aux: dict, trials=None):
    """The observation distribution of ``family`` with ``link`` at linear predictor ``eta``."""
    return LIKELIHOODS[family](eta, link, aux, trials)
