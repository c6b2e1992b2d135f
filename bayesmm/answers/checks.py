"""Model checks the GLMM FAQ asks for: overdispersion and zero inflation.

Both compare the data with what the fitted model says the data should look like:

* :func:`check_overdispersion`: the FAQ's ``overdisp_fun`` (Bolker, GLMM FAQ, "Testing for
  overdispersion/computing overdispersion factor"): the sum of squared Pearson residuals over the residual
  degrees of freedom, with a chi-square tail probability, each variance parameter counted as one degree
  of freedom; here the fitted values are the posterior means of the conditional means (random effects
  included, as ``residuals(fit, type = "pearson")`` in lme4). Then its posterior predictive version
  (Gelman et al., BDA3 ch. 6): for each draw, the Pearson statistic of the observed data against that of a
  data set replicated from the same draw, and the share of draws in which the replicate's is at least as
  large (the posterior predictive p-value).
* :func:`check_zero_inflation`: the FAQ's "simulate" recipe: the observed number of zeros against its
  posterior predictive distribution, with the share of replicates having at least as many zeros.

A small tail probability says the data have more dispersion (zeros) than the model produces; it is a
check of fit, not a test with a nominal error rate (posterior predictive p-values are conservative).

* :func:`check_prior_conflict`: prior-data conflict (Evans and Moshonov 2006): a family parameter or SD
  whose posterior median lies in its prior's tail, where the prior holds the estimate back. Motivating case:
  betareg's GasolineYield (32 rows) with ``gamma(2, 0.1)`` on the beta precision gave ``phi`` 92 [48, 150]
  against a maximum-likelihood 302; the prior's 99th percentile is 66.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .. import naming
from ..distributions import DISTRIBUTIONS
from ..errors import FamilyError
from ..priors import random_class
from .arguments import check_prob
from .predict import draw_quantities

__all__ = ["check_overdispersion", "check_zero_inflation", "check_prior_conflict", "prior_distribution",
           "prior_in_effect"]

ALPHA = 0.05


def _n_variance_parameters(design) -> int:
    """lme4's count: q (q + 1) / 2 per correlated block of q terms, one per independent term."""
    total = 0
    for block in design.blocks:
        q = block.n_columns
        total += q * (q + 1) // 2 if block.correlated and q > 1 else q
    return total


def _variance(family: str, mu: np.ndarray, trials) -> np.ndarray:
    """Variance function of the family at mean ``mu`` (poisson ``mu``; binomial ``mu (1 - mu / n)``)."""
    if family == "poisson":
        return np.maximum(mu, 1e-12)
    return np.maximum(mu * (1 - mu / trials), 1e-12)


def _dispersion_family(fit) -> None:
    family, design = fit.family, fit.design
    if family.name == "bernoulli" or (family.name == "binomial" and np.all(design.trials == 1)):
        raise FamilyError("Overdispersion cannot be detected in binary (0/1) responses: their variance is fixed "
                          "by the mean (GLMM FAQ). Aggregate to successes out of trials per group, or check the "
                          "fit with fit.plot_ppc().")
    if family.name not in ("poisson", "binomial"):
        dispersion = [a.name for a in family.aux if a.name not in ("zi", "hu")]
        raise FamilyError(f"The overdispersion check applies to poisson and binomial models, whose variance is "
                          f"fixed by the mean. Family '{family.name}' "
                          + (f"estimates its own dispersion ({', '.join(dispersion)}): look at its posterior in "
                             "fit.tidy() instead." if dispersion else
                             "models extra zeros, not extra variance: use fit.check_zero_inflation() and "
                             "fit.plot_ppc() instead."))


def check_overdispersion(fit, draws: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Overdispersion of a poisson or binomial fit: the FAQ's Pearson ratio and its posterior predictive
    version (see the module docstring). One row per method: ``statistic`` (Pearson chi-square; for the
    predictive row its posterior mean), ``reference`` (residual df; the replicated statistic's mean),
    ``ratio`` (statistic / reference: about 1 when the model's variance fits), ``p_value`` (chi-square upper
    tail; share of replicates at least as dispersed) and ``overdispersed`` (ratio above 1 with ``p_value``
    below 0.05)."""
    _dispersion_family(fit)
    design, family = fit.design, fit.family.name
    mu, _ = draw_quantities(fit, kind="mean", draws=draws, seed=seed)
    y_rep, _ = draw_quantities(fit, kind="response", draws=draws, seed=seed)
    y, trials = design.y, design.trials
    mu_hat = mu.mean(axis=0)
    pearson = float(np.sum((y - mu_hat) ** 2 / _variance(family, mu_hat, trials)))
    rdf = design.n_obs - design.X.shape[1] - _n_variance_parameters(design)
    if rdf < 1:
        raise FamilyError(f"The model has {design.n_obs} rows and {design.n_obs - rdf} parameters: no residual "
                          "degrees of freedom are left for an overdispersion check.")
    variance = _variance(family, mu, trials)
    observed = np.sum((y - mu) ** 2 / variance, axis=1)
    replicated = np.sum((y_rep - mu) ** 2 / variance, axis=1)
    rows = [("pearson", pearson, float(rdf), float(stats.chi2.sf(pearson, rdf))),
            ("posterior_predictive", float(observed.mean()), float(replicated.mean()),
             float(np.mean(replicated >= observed)))]
    table = pd.DataFrame(rows, columns=["method", "statistic", "reference", "p_value"]).set_index("method")
    table.insert(2, "ratio", table["statistic"] / table["reference"])
    table["overdispersed"] = (table["ratio"] > 1) & (table["p_value"] < ALPHA)
    return table


def check_zero_inflation(fit, prob: float = 0.95, draws: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Zeros in the data against the posterior predictive distribution of their number (count families).
    One row: ``observed_zeros``, ``expected_zeros`` (posterior predictive mean), the equal-tailed ``prob``
    interval of the replicated count, ``ratio`` (observed / expected), ``p_value`` (share of replicates with
    at least as many zeros) and ``zero_inflated`` (more zeros than expected with ``p_value`` below 0.05)."""
    prob = check_prob(prob)
    if fit.family.response not in ("count", "binomial"):
        raise FamilyError(f"The zero-inflation check is for count responses; family '{fit.family.name}' "
                          f"models a {fit.family.response} response.")
    y_rep, _ = draw_quantities(fit, kind="response", draws=draws, seed=seed)
    zeros_rep = np.sum(y_rep == 0, axis=1)
    observed = int(np.sum(fit.design.y == 0))
    tail = (1 - prob) / 2
    low, high = np.quantile(zeros_rep, [tail, 1 - tail])
    expected = float(zeros_rep.mean())
    p_value = float(np.mean(zeros_rep >= observed))
    return pd.DataFrame({"observed_zeros": [observed], "expected_zeros": [expected], "conf_low": [low],
                         "conf_high": [high], "ratio": [observed / expected if expected > 0 else np.inf],
                         "p_value": [p_value], "zero_inflated": [observed > expected and p_value < ALPHA]},
                        index=pd.Index(["zeros"]))


# ------------------------------------------------------------------------------- prior-data conflict
#: the prior's tail: a posterior median beyond the prior's 99th percentile (or below its 1st) conflicts
CONFLICT_TAIL = 0.01
#: a posterior median beyond the 95th percentile conflicts too when the posterior is at least half as wide as
#: the prior: the prior's scale still shapes the posterior while the likelihood pulls it to the tail
DOMINATED_TAIL, DOMINATED_SD_RATIO = 0.05, 0.5


def prior_distribution(spec):
    """A scipy-like distribution (``cdf``, ``ppf``, ``pdf``, ``std``) of a prior on a positive or unit-interval
    parameter, or None for a prior without one here (flat, lkj, real-line priors)."""
    record = DISTRIBUTIONS[spec.dist] if spec is not None else None
    if record is None or record.scipy is None or record.support == "real":
        return None
    return record.scipy(spec.args)


def prior_in_effect(fit, cls: str, group: str = "", coef: str = ""):
    """The :class:`~bayesmm.priors.PriorSpec` in effect for one parameter (class ``sd``, ``sigma``, ``phi``,
    ...), from the fit's prior entries."""
    return next((e.prior for e in fit.prior_entries if e.cls == cls and e.group == group and e.coef == coef), None)


def _variance_parameters(fit):
    """(name, class, group, coef, draws) of each family parameter without its own formula and each SD; an SD
    whose prior is set in units of sigma is divided by sigma's draws."""
    post = fit.idata.posterior
    for aux in fit.family.aux:
        if aux.name not in fit.design.parts and aux.name in post:
            name = naming.family_parameter(aux.name)
            yield naming.canonical(name), aux.name, "", "", post[naming.variable(name)].values.ravel()
    for block in fit.design.blocks:  # a family parameter's formula's SDs too (class sd_zi, ...)
        for term in block.columns:
            name = naming.sd(block.group, term, block.component)
            draws = post[naming.variable(name)].sel({naming.term_dim(block.group, block.component): term})
            draws = draws.values.ravel()
            yield naming.canonical(name), random_class("sd", block.part), block.group, term, draws


def check_prior_conflict(fit) -> pd.DataFrame:
    """Prior-data conflict of the family parameters (``sigma``, ``phi``, ``nu``, ``shape``, ...) and SDs: where
    the posterior median falls in the prior (``prior_quantile``, the prior's CDF there), the posterior's
    median and 95% interval and the prior's 1st and 99th percentiles (in the prior's units: an SD whose prior
    is in units of sigma is divided by sigma), the posterior-to-prior SD ratio, and ``conflict``: ``"above"``/``"below"`` when the median lies beyond the prior's 99th (1st)
    percentile, or beyond its 95th (5th) with the posterior at least half as wide as the prior, where the
    prior's density is below its density at its own median (so a half-normal's mode at zero is never a tail). The likelihood
    then pulls the parameter where the prior leaves little mass: the estimate is held back by the prior
    (Evans and Moshonov 2006, "Checking for prior-data conflict"). One row per parameter."""
    rows = []
    for name, cls, group, coef, draws in _variance_parameters(fit):
        spec = prior_in_effect(fit, cls, group, coef)
        distribution = prior_distribution(spec)
        if distribution is None:
            continue
        if spec.per == "sigma" and "sigma" in fit.idata.posterior:
            draws = draws / fit.idata.posterior["sigma"].values.ravel()
        median = float(np.median(draws))
        quantile = float(distribution.cdf(median))
        prior_sd = float(distribution.std())
        ratio = float(np.std(draws)) / prior_sd if np.isfinite(prior_sd) and prior_sd > 0 else 0.0
        side = "above" if quantile > 0.5 else "below"
        tail = min(quantile, 1 - quantile)
        in_tail = tail < CONFLICT_TAIL or (tail < DOMINATED_TAIL and ratio >= DOMINATED_SD_RATIO)
        falling = float(distribution.pdf(median)) < float(distribution.pdf(distribution.ppf(0.5)))
        conflict = side if in_tail and falling else ""
        rows.append({"parameter": name, "prior": str(spec), "posterior_median": median,
                     "posterior_q025": float(np.quantile(draws, 0.025)),
                     "posterior_q975": float(np.quantile(draws, 0.975)),
                     "prior_q01": float(distribution.ppf(CONFLICT_TAIL)),
                     "prior_q99": float(distribution.ppf(1 - CONFLICT_TAIL)), "prior_quantile": quantile,
                     "sd_ratio": ratio, "conflict": conflict})
    columns = ["parameter", "prior", "posterior_median", "posterior_q025", "posterior_q975", "prior_q01", "prior_q99",
               "prior_quantile", "sd_ratio", "conflict"]
    return pd.DataFrame(rows, columns=columns).set_index("parameter")
