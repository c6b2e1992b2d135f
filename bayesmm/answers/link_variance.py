"""Family -> the distribution-specific variance on the link scale, per posterior draw: the residual part of
Nakagawa & Schielzeth's R² (:mod:`bayesmm.answers.r2`).

Some rules need a *typical mean*: ``lambda = exp(eta0)`` on a log link, ``mu0 = g^-1(eta0)`` on others, with
``eta0`` the mean over the rows of ``X b`` or a null model's intercept (see :mod:`bayesmm.answers.r2`).

**As insight 0.19.0** (performance 0.10.2's ``r2_nakagawa``): gaussian ``sigma²``; bernoulli and binomial
``pi²/3`` (logit), 1 (probit), ``pi²/6`` (cloglog); counts with a sqrt link 0.25; gamma with a log link
``1/shape`` (glmmTMB's ``sigma²``: the delta method for ``var(log y)``, whose exact value is
``trigamma(shape)``; later insight versions default to ``log(1 + 1/shape)``); counts with a log link the
lognormal approximation ``log(1 + v / lambda²)``, ``v`` the family's variance at ``lambda`` (performance's
default; its later ``delta`` and ``trigamma`` forms are not in 0.10.2): poisson ``log(1 + 1/lambda)``, NB2
``log(1 + 1/lambda + 1/phi)``, NB1 ``log(1 + (1 + alpha)/lambda)``; zero-inflated Poisson ``v`` = the mean
over the rows of ``(1 - zi)(mu + zi mu²)`` (``mu`` the row's conditional mean, random effects included),
zero-inflated NB2 the mean of ``(1 - zi)(mu (1 + mu/phi) + zi mu²)`` (the ZINB variance; insight 0.19.0
writes ``mu² (zi² + zi)`` for the last term, which is not the variance of the distribution).

**bayesmm's own**, where insight 0.19.0 has no rule or a wrong one (R² at the ML estimates, performance's
against ours as marginal / conditional, from ``tests/reference/r2.json``):

* lognormal: ``sigma²``, the gaussian rule for ``log y`` (performance on ``lmer(log y ~ ...)`` agrees).
* student_t: ``sigma²``, the gaussian rule: the scale's square, not the t variance ``sigma² nu/(nu - 2)``,
  which is infinite for ``nu <= 2``, where posteriors of ``nu`` reach. With a finite ``nu`` the scale is below
  the residual SD, so the R² lies above a gaussian model's. insight does not count glmmTMB's t family as linear
  and takes ``sigma`` unsquared, in the response's units (sleepstudy: 0.406 / 0.986 against 0.288 / 0.698).
* gaussian and student_t with a log link: ``log(1 + sigma²/lambda²)``; insight takes ``sigma²`` in the
  response's units beside variances on the log scale (sleepstudy: 0.000013 / 0.000032 against 0.294 / 0.737).
* beta (logit): the variance of ``logit y`` for ``y ~ Beta(mu0 phi, (1 - mu0) phi)``, exactly
  ``trigamma(mu0 phi) + trigamma((1 - mu0) phi)`` (the delta method's ``1 / (mu0 (1 - mu0) (1 + phi))`` is its
  first order in ``1/phi`` and falls short where ``mu0 phi`` is small: 1.00 against 1.64 at 1). insight takes
  ``log(1 + v/mu²)``, ``v = mu (1 - mu) / (1 + phi)``, a log link's rule, at ``mu = exp(intercept)`` where the
  link is logit (later versions: ``plogis``) (simulated beta data: 0.644 / 0.957 against 0.507 / 0.754).
  Beta-binomial: ``pi²/3`` plus that variance for its beta-distributed success probability, an
  observation-level effect on the logit scale (insight 0.19.0 puts the number of rows in for the trials).
* weibull and exponential with a log link: ``var(log y) = pi²/6 / shape²`` exactly (``log y`` is ``eta`` plus
  a Gumbel variable of scale ``1/shape``; exponential: shape 1), as binomial's cloglog ``pi²/6``.
* other links (identity, inverse; beta's probit and cloglog): the delta method ``v(mu0) / (dmu/deta)²``:
  gamma inverse ``eta0²/shape``, identity ``mu0²/shape``; poisson and NB identity ``v(mu0)``; weibull
  ``mu0² CV²``, ``CV² = Gamma(1 + 2/shape) / Gamma(1 + 1/shape)² - 1``. Exact on the identity link; on the
  others first order, near ``var(g(y))`` where the dispersion is small and short of it for a skewed
  distribution (Weibull of shape 8, inverse link: 0.0055 against 0.0085); the exact ``var(1/y)`` of a gamma or
  Weibull is infinite for a shape up to 2. insight gives gamma's inverse and identity links ``1/shape``, the
  log scale's CV², whatever the scale, so its R² changes with the response's units (sleepstudy's
  Reaction/100, inverse link: 0.094 / 0.266 against 0.267 / 0.754).
* hurdle Poisson and NB2: as the zero-inflated rule, ``v`` the mean over the rows of the hurdle model's
  variance ``q E[Y²] - (q mu)²``, ``q = (1 - hu) / (1 - P0)``, ``P0`` the count distribution's P(0),
  ``E[Y²] = mu + mu²`` (Poisson), ``mu + mu² (1 + 1/phi)`` (NB2). insight 0.19.0 takes the zero-truncated
  variance alone: for ``truncated_poisson`` its variance function at ``sigma``, which is 1 for a Poisson -- the
  variance of a truncated Poisson of mean 1, 0.661, whatever the counts (later versions evaluate it at
  ``lambda``) -- and for ``truncated_nbinom2`` at ``lambda`` and theta; neither counts the hurdle's zeros
  (salamanders, null model's lambda: Poisson 0.724 / 0.819 against 0.488 / 0.551; NB2 0.386 / 0.391 against
  0.386 / 0.390, where the two happen to agree).
* hurdle gamma (log link): the same lognormal approximation, ``v`` the mean over the rows of the hurdle gamma's
  variance ``(1 - hu) mu² (1 + 1/shape) - ((1 - hu) mu)²``.
* com_poisson (log link): Nakagawa, Johnson & Schielzeth's (2017) lognormal approximation ``log(1 + v / m²)``
  with the Conway-Maxwell-Poisson's exact mean ``m`` and variance ``v`` at ``mu = lambda`` (sums of its pmf;
  ``v`` is about ``lambda / shape``, so under-dispersion lowers the distribution variance below the Poisson's).

**Without one** (:data:`NAKAGAWA_UNDEFINED`): the marginal and conditional R² need a variance on the link scale
that the family does not have, so ``fit.r2()`` gives them as NaN with the reason, and the Bayesian R² (Gelman
et al. 2019), which needs only the expected response, as for every family. zero_inflated_binomial: the
binomial's ``pi²/3`` is the latent logistic variable's, and a mixture with structural zeros has no such latent
variable; zero_one_inflated_beta and ordbeta: the exact 0s and 1s have no logit (the beta rule's
``var(logit y)`` is infinite); hurdle_lognormal: its link scale is that of ``log y``, which the zeros do not have.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from ..errors import FamilyError
from ..links import NUMPY_INVERSE_LINKS

__all__ = ["SUPPORTED", "SCALE_FAMILIES", "NAKAGAWA_UNDEFINED", "check_family", "nakagawa_defined",
           "uses_typical_mean", "distribution_variance", "row_variance", "method"]

#: family -> links with a distribution-specific variance (every family with a mean)
SUPPORTED = {"gaussian": ("identity", "log"), "student_t": ("identity", "log"), "lognormal": ("identity",),
             "bernoulli": ("logit", "probit", "cloglog"), "binomial": ("logit", "probit", "cloglog"),
             "beta_binomial": ("logit",), "poisson": ("log", "sqrt", "identity"),
             "negbinomial": ("log", "sqrt", "identity"), "nbinom1": ("log",),
             "gamma": ("log", "inverse", "identity"), "beta": ("logit", "probit", "cloglog"),
             "zero_inflated_poisson": ("log",), "zero_inflated_negbinomial": ("log",),
             "hurdle_poisson": ("log",), "hurdle_negbinomial": ("log",), "hurdle_gamma": ("log",),
             "com_poisson": ("log",),
             "weibull": ("log", "identity", "inverse"), "exponential": ("log", "identity", "inverse")}
#: families with a mean but no variance on the link scale: the Bayesian R² alone (module docstring)
NAKAGAWA_UNDEFINED = {
    "zero_inflated_binomial": "the binomial's pi²/3 is that of a latent logistic variable, which a mixture with "
                              "structural zeros does not have",
    "zero_one_inflated_beta": "the exact 0s and 1s have no logit, so var(logit y) is infinite",
    "ordbeta": "the exact 0s and 1s have no logit, so var(logit y) is infinite",
    "hurdle_lognormal": "its link scale is that of log y, which the zeros do not have"}
#: families whose distribution variance on the identity link is sigma² (lognormal: of log y), and whose
#: observation-level effects insight leaves out (its "linear" models)
SCALE_FAMILIES = ("gaussian", "student_t", "lognormal")
#: families whose variance is averaged over the rows (insight's zero-inflated rule)
ROW_FAMILIES = ("zero_inflated_poisson", "zero_inflated_negbinomial", "hurdle_poisson", "hurdle_negbinomial",
                "hurdle_gamma")
BINOMIAL_VARIANCE = {"logit": (np.pi ** 2 / 3, "pi²/3 (logit link)"), "probit": (1.0, "1 (probit link)"),
                     "cloglog": (np.pi ** 2 / 6, "pi²/6 (cloglog link)")}
#: link -> d mu / d eta, for the delta method
MEAN_SLOPES = {"identity": np.ones_like, "inverse": lambda eta: -1.0 / eta ** 2,
               "logit": lambda eta: special.expit(eta) * special.expit(-eta),
               "probit": lambda eta: np.exp(-eta ** 2 / 2) / np.sqrt(2 * np.pi),
               "cloglog": lambda eta: np.exp(eta - np.exp(eta))}


def nakagawa_defined(family: str) -> bool:
    """Whether the marginal and conditional R² have a distribution variance for ``family`` (else NaN, with
    :data:`NAKAGAWA_UNDEFINED`'s reason; the Bayesian R² still applies)."""
    return family not in NAKAGAWA_UNDEFINED


def check_family(family: str, link: str) -> None:
    """Refuse a family or link without a rule here (one added to bayesmm.families later, or without a mean)."""
    if link in SUPPORTED.get(family, ()):
        return
    if family in NAKAGAWA_UNDEFINED:
        raise FamilyError(f"R² (Nakagawa) has no distribution-specific variance for family '{family}': "
                          f"{NAKAGAWA_UNDEFINED[family]}. fit.r2() gives the Bayesian R² (Gelman et al. 2019) alone "
                          "for it.")
    supported = "; ".join(f"{name} ({', '.join(links)})" for name, links in SUPPORTED.items())
    raise FamilyError(f"R² (Nakagawa) has no distribution-specific variance for family '{family}' with link "
                      f"'{link}'. Supported families (links): {supported}.")


def uses_typical_mean(family: str, link: str) -> bool:
    """Whether the distribution variance depends on the typical mean (``eta0``)."""
    constant = (link == "sqrt" or family in ("bernoulli", "binomial")
                or (family in ("gamma", "weibull", "exponential") and link == "log")
                or (family in SCALE_FAMILIES and link == "identity"))
    return not constant


def _row_mean(value) -> np.ndarray:
    """A family parameter per draw: as is, or the mean over the rows when it has its own formula."""
    value = np.asarray(value, dtype=float)
    return value.mean(axis=1) if value.ndim == 2 else value


def _column(value) -> np.ndarray:
    value = np.asarray(value, dtype=float)
    return value[:, None] if value.ndim == 1 else value


def _variance_at(family: str, mu, aux) -> np.ndarray:
    """v(mu): the family's variance of y at mean ``mu`` (per draw), a parameter with its own formula averaged
    over the rows."""
    if family in ("gaussian", "student_t"):
        return _row_mean(np.square(aux["sigma"]))
    if family == "poisson":
        return mu
    if family == "negbinomial":
        return mu + mu ** 2 * _row_mean(1 / np.asarray(aux["phi"], float))
    if family == "nbinom1":
        return mu * (1 + _row_mean(aux["alpha"]))
    if family == "gamma":
        return mu ** 2 * _row_mean(1 / np.asarray(aux["shape"], float))
    if family == "weibull":
        shape = np.asarray(aux["shape"], float)
        return mu ** 2 * _row_mean(np.expm1(special.gammaln(1 + 2 / shape) - 2 * special.gammaln(1 + 1 / shape)))
    if family == "exponential":
        return mu ** 2
    return mu * (1 - mu) * _row_mean(1 / (1 + np.asarray(aux["phi"], float)))  # beta


def com_poisson_moments(mu: np.ndarray, shape: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(mean, variance) of the Conway-Maxwell-Poisson ``P(y) ~ (mu^y / y!)^shape`` (brms's) per draw, summed over
    its pmf within 40 SDs (``sqrt(mu / shape)``) and 40 of ``mu``, ``chunk`` draws at a time."""
    mu, shape = np.broadcast_arrays(np.asarray(mu, float), np.asarray(shape, float))
    mean, variance = np.empty(mu.shape), np.empty(mu.shape)
    for start in range(0, mu.size, chunk):
        part = slice(start, start + chunk)
        reach = 40 * np.sqrt(mu[part] / shape[part]) + 40
        low = np.maximum(np.floor(mu[part] - reach), 0.0)
        k = low[:, None] + np.arange(int(np.ceil(np.max(mu[part] + reach - low))) + 1)
        log_terms = shape[part, None] * (k * np.log(mu[part])[:, None] - special.gammaln(k + 1))
        pmf = np.exp(log_terms - special.logsumexp(log_terms, axis=1, keepdims=True))
        mean[part] = np.sum(pmf * k, axis=1)
        variance[part] = np.sum(pmf * (k - mean[part, None]) ** 2, axis=1)
    return mean, variance


def row_variance(family: str, mu: np.ndarray, aux) -> np.ndarray:
    """Var(y) per draw and row of the zero-inflated and hurdle families; ``mu`` (draws x rows) the count part's
    (untruncated) mean. Hurdle: with ``q = (1 - hu) / (1 - P0)``, ``E[y] = q mu`` and ``E[y²] = q E[Y²]``."""
    if family == "hurdle_gamma":
        kept = 1 - _column(aux["hu"])
        return kept * mu ** 2 * (1 + 1 / _column(aux["shape"])) - (kept * mu) ** 2
    if family in ("zero_inflated_poisson", "zero_inflated_negbinomial"):
        zi = _column(aux["zi"])
        count = mu if family == "zero_inflated_poisson" else mu * (1 + mu / _column(aux["phi"]))
        return (1 - zi) * (count + zi * mu ** 2)
    if family == "hurdle_poisson":
        second, positive = mu + mu ** 2, -np.expm1(-mu)
    else:
        phi = _column(aux["phi"])
        second, positive = mu + mu ** 2 * (1 + 1 / phi), -np.expm1(-phi * np.log1p(mu / phi))
    q = (1 - _column(aux["hu"])) / positive
    return q * second - (q * mu) ** 2


def distribution_variance(family: str, link: str, eta0: np.ndarray, eta: np.ndarray, aux: dict) -> np.ndarray:
    """Per draw: the distribution-specific variance on the link scale (:func:`method` names it). ``eta0``: the
    typical linear predictor per draw; ``eta``: the rows' (draws x rows); ``aux``: the family parameters (per
    draw, or draws x rows for those with their own formula)."""
    n = len(eta)
    if family in SCALE_FAMILIES and link == "identity":
        return _row_mean(np.square(aux["sigma"]))
    if family in ("bernoulli", "binomial"):
        return np.full(n, BINOMIAL_VARIANCE[link][0])
    if family == "gamma" and link == "log":
        return _row_mean(1 / np.asarray(aux["shape"], float))
    if family in ("weibull", "exponential") and link == "log":
        inverse_square = _row_mean(np.asarray(aux["shape"], float) ** -2.0) if "shape" in aux else np.ones(n)
        return np.pi ** 2 / 6 * inverse_square
    if link == "sqrt":
        return np.full(n, 0.25)
    if family == "com_poisson":
        mean, variance = com_poisson_moments(np.exp(eta0), _row_mean(aux["shape"]))
        return np.log1p(variance / mean ** 2)
    if link == "log":  # the lognormal approximation
        lam = np.exp(eta0)
        if family in ROW_FAMILIES:
            return np.log1p(np.mean(row_variance(family, np.exp(eta), aux), axis=1) / lam ** 2)
        return np.log1p(_variance_at(family, lam, aux) / lam ** 2)
    if family in ("beta", "beta_binomial") and link == "logit":  # var(logit y), y ~ Beta(mu0 phi, (1 - mu0) phi)
        phi = _column(aux["phi"])
        logit = np.mean(special.polygamma(1, special.expit(eta0)[:, None] * phi)
                        + special.polygamma(1, special.expit(-eta0)[:, None] * phi), axis=1)
        return logit + (BINOMIAL_VARIANCE[link][0] if family == "beta_binomial" else 0.0)
    mu0 = NUMPY_INVERSE_LINKS[link](eta0)  # the delta method
    return _variance_at(family, mu0, aux) / MEAN_SLOPES[link](eta0) ** 2


def method(family: str, link: str, typical: str) -> str:
    """The rule of :func:`distribution_variance` in words; ``typical`` says where ``eta0`` comes from."""
    if family in SCALE_FAMILIES and link == "identity":
        return {"student_t": "residual variance sigma² (the scale's square, as gaussian)",
                "lognormal": "residual variance sigma² (of log y)"}.get(family, "residual variance sigma²")
    if family in ("bernoulli", "binomial"):
        return f"distribution variance {BINOMIAL_VARIANCE[link][1]}"
    if family == "gamma" and link == "log":
        return "distribution variance 1/shape (delta method, as insight)"
    if family in ("weibull", "exponential") and link == "log":
        return f"distribution variance var(log y) = pi²/6{' / shape²' if family == 'weibull' else ''}"
    if link == "sqrt":
        return "distribution variance 0.25 (sqrt link)"
    if link == "log":
        if family == "com_poisson":
            return f"lognormal approximation log(1 + var(y)/E(y)²) at mu = exp(eta0), eta0 = {typical}"
        form = {"poisson": "1/lambda", "negbinomial": "1/lambda + 1/phi", "nbinom1": "(1 + alpha)/lambda",
                "gaussian": "sigma²/lambda²", "student_t": "sigma²/lambda²"}.get(family, "mean var(y)/lambda²")
        return f"lognormal approximation log(1 + {form}), lambda = exp(eta0), eta0 = {typical}"
    if family in ("beta", "beta_binomial") and link == "logit":
        extra = "pi²/3 + " if family == "beta_binomial" else ""
        return f"distribution variance {extra}trigamma(mu0 phi) + trigamma((1 - mu0) phi), eta0 = {typical}"
    return f"delta method var(y)/(dmu/deta)² at mu0 = g^-1(eta0), eta0 = {typical}"
