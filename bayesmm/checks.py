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
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .errors import FamilyError
from .predict import draw_quantities

__all__ = ["check_overdispersion", "check_zero_inflation"]

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
