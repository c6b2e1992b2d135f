"""Fit -> R²: Nakagawa & Schielzeth's marginal and conditional R² and Gelman et al.'s Bayesian R², per draw.

**Marginal and conditional R²** (Nakagawa & Schielzeth 2013; random slopes: Johnson 2014; non-gaussian
families: Nakagawa, Johnson & Schielzeth 2017), computed as ``performance::r2_nakagawa`` (performance 0.10.2,
through insight 0.19.0's ``get_variance``) computes them at the ML estimates, but once per posterior draw:

* fixed part: the variance over the training rows of ``X b`` (no offset, no random effects);
* random part: per grouping factor, the mean over the rows of ``z_i' Sigma z_i`` (``Sigma`` the factor's
  covariance matrix, ``z_i`` the row's covariates of its terms), summed over factors. ``z_i`` comes from the
  random term itself; insight takes it from the fixed-effect matrix, so it leaves out a random slope that is
  not also a fixed effect (and warns). insight's singular-fit rule (no random variance when one is below
  1e-5) has no counterpart: no posterior draw of an SD is exactly 0. A factor with one level per row (an
  observation-level effect) is overdispersion: insight counts it in the residual part (the ``dispersion``
  variance) for non-gaussian families and leaves it out for gaussian ones (here gaussian, student_t and
  lognormal); so does this;
* distribution variance, on the link scale, for every family with a mean: insight 0.19.0's rule where it has a
  sound one (gaussian, binomial, counts and their zero-inflated forms, gamma with a log link), bayesmm's own
  where insight has none or a wrong one (student_t, lognormal, beta, beta-binomial, weibull, exponential,
  hurdle families, gamma's and the counts' other links, gaussian with a log link): each rule, and
  performance's numbers against ours where they differ, in :mod:`bayesmm.answers.link_variance`. Some rules
  need a typical mean, ``lambda = exp(eta0)`` or ``mu0 = g^-1(eta0)``, below.

``marginal = fixed / (fixed + random + residual)``, ``conditional = (fixed + random) / (...)``; without random
effects both are the same.

The typical mean: performance takes the intercept ``eta0`` of the *null model* (the model refitted with the
random part only), ``lambda = exp(eta0)``. Refitting is the caller's choice here: by default ``eta0 = mean of
X b over the rows`` per draw (the intercept of the model with centred predictors, no refit), which differs
from the null model's intercept where the null model's random effects absorb the fixed effects (at the ML
estimates: grouseticks marginal R² 0.560 against performance's 0.555, salamanders NB2 0.569 against 0.584,
and farthest where a site-level predictor is absorbed by the null model's random effects: salamanders
zero-inflated Poisson 0.445 against 0.567; with bayesmm's hurdle Poisson rule, 0.373 against 0.488 with
the null model's intercept; ``tests/reference/r2.json``). Pass a fitted null model as ``null_fit`` to use its
intercept's draws instead (paired with the fit's draws in order), as performance does. :func:`r2_variances`
gives the four variances per draw.

Example (the fits are NUTS runs; see ``tests/answers/test_r2.py``)::

    fit = bmm.fit("count ~ spp * mined + (1 | site)", salamanders, family="negbinomial")
    fit.r2()                                             # lambda = exp(mean of X b)
    null = bmm.fit("count ~ 1 + (1 | site)", salamanders, family="negbinomial")
    fit.r2(null_fit=null)                                # lambda from the null model, as performance

**Bayesian R²** (Gelman, Goodrich, Gabry & Vehtari 2019), as brms 2.18's ``bayes_R2``: per draw
``var(mu) / (var(mu) + var(y - mu))`` with ``mu`` the expected response of each training row (random effects
included; brms's ``posterior_epred``, a truncated model's truncated mean) and ``y - mu`` the residuals, for every
family. Where a family has no distribution variance on the link scale (``link_variance.NAKAGAWA_UNDEFINED``:
zero_inflated_binomial, zero_one_inflated_beta, ordbeta, hurdle_lognormal) it is the only one: the marginal and
conditional R² are NaN, their ``method`` says why.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import naming
from ..errors import BayesMMError
from ..posterior import group_terms
from .arguments import check_prob, draw_index
from .link_variance import (NAKAGAWA_UNDEFINED, SCALE_FAMILIES, SUPPORTED, check_family, distribution_variance,
                            method, nakagawa_defined, uses_typical_mean)
from .predict import family_parameters, linear_predictor, prediction_design, require_rows

__all__ = ["r2", "r2_draws", "r2_variances", "SUPPORTED"]

MEASURES = ("marginal", "conditional", "bayes")
COMPONENTS = ("fixed", "random", "distribution", "dispersion")
BAYES_METHOD = "Gelman et al. (2019), brms's bayes_R2: var(mu) / (var(mu) + var(y - mu)), mu = E[y | draw]"


def _flat(fit, name: str, index: np.ndarray) -> np.ndarray:
    values = fit.idata.posterior[name].values
    return values.reshape((-1,) + values.shape[2:])[index]


def _random_variances(fit, index) -> tuple[np.ndarray, np.ndarray]:
    """Per draw: (variance of the random part, variance of observation-level effects), each the mean over rows
    of ``z_i' Sigma z_i`` summed over the grouping factors (Johnson 2014; insight's ``.compute_variance_random``)."""
    design = fit.design
    random, observation = np.zeros(len(index)), np.zeros(len(index))
    for group, (_, parts) in group_terms(design).items():
        blocks = [design.blocks[k] for k, _ in parts]
        Z = np.column_stack([b.Z for b in blocks])
        moments = Z.T @ Z / design.n_obs  # mean over rows of z_i z_i'
        sd = _flat(fit, naming.variable("sd", group), index)
        cor_name = naming.variable("cor", group)
        cor = _flat(fit, cor_name, index) if cor_name in fit.idata.posterior else np.eye(sd.shape[1])[None]
        covariance = sd[:, :, None] * cor * sd[:, None, :]
        variance = np.einsum("sjk,jk->s", covariance, moments)
        one_per_row = len(np.unique(blocks[0].group_index)) == design.n_obs
        if one_per_row:
            observation += variance
        else:
            random += variance
    return random, observation


def _paired(values: np.ndarray, n: int) -> np.ndarray:
    """``n`` of ``values``, evenly spaced over them (a null model's draws matched to the fit's)."""
    return values[np.linspace(0, len(values) - 1, n).round().astype(int)]


def _check_null_fit(null_fit, fit) -> None:
    if null_fit is None:
        return
    if not all(hasattr(null_fit, name) for name in ("idata", "design", "family")):
        raise BayesMMError(f"null_fit must be a fitted null model (a bmm Fit), not {type(null_fit).__name__}.")
    if not uses_typical_mean(fit.family.name, fit.family.link):
        raise BayesMMError(f"null_fit gives the typical mean (lambda) where the distribution variance depends on "
                           f"it; the R² of a {fit.family.name} model with link '{fit.family.link}' needs no null "
                           "model: leave null_fit out.")


def _null_intercept(null_fit, fit, n: int) -> np.ndarray:
    names = list(null_fit.design.fixed_names)
    same_rows = null_fit.design.n_obs == fit.design.n_obs and np.array_equal(null_fit.design.y, fit.design.y)
    if names != ["Intercept"] or null_fit.family.name != fit.family.name or not same_rows:
        raise BayesMMError("null_fit must be the null model of this fit: the same response, family and rows, with "
                           f"an intercept as its only fixed effect (it has {names}, family '{null_fit.family.name}', "
                           f"{null_fit.design.n_obs} rows; this fit: family '{fit.family.name}', {fit.design.n_obs} "
                           "rows; the responses must match too). Fit it as 'y ~ 1 + (the random terms)'.")
    intercept = null_fit.idata.posterior[naming.variable("fixed")].values[..., 0].reshape(-1)
    return _paired(intercept, n)


def _method(fit, null_fit) -> str:
    typical = "mean of X b" if null_fit is None else "the null model's intercept"
    return method(fit.family.name, fit.family.link, typical)


def _bayes(fit, eta, aux, design) -> np.ndarray:
    """Gelman et al.'s R² per draw from the expected responses (brms's ``.bayes_R2``; a truncated model's are the
    truncated distribution's, as brms's ``posterior_epred``)."""
    from ..model.simulate import response_quantity

    mu = response_quantity(fit.family.name, fit.family.link, eta, aux, design.trials, "mean",
                           truncation=design.truncation)
    residual = fit.design.y[None, :] - mu
    explained, unexplained = mu.var(axis=1, ddof=1), residual.var(axis=1, ddof=1)
    total = explained + unexplained
    if not np.all(np.isfinite(mu)) or np.any(total <= 0):
        raise BayesMMError("The Bayesian R² is undefined here: the expected responses are not finite, or neither "
                           "they nor the residuals vary over the rows.")
    return explained / total


def _chunks(index: np.ndarray, n_rows: int, cells: int = 4_000_000) -> list[np.ndarray]:
    """``index`` in pieces of at most ``cells`` (draw, row) entries: memory bounded on large data."""
    step = max(1, cells // max(n_rows, 1))
    return [index[i:i + step] for i in range(0, len(index), step)]


def _per_row_parts(fit, design, index, eta0, seed, bayes: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(distribution variance, Bayesian R² or None) per draw of ``index``, from the draws' linear predictors."""
    eta = linear_predictor(fit, design, index, seed=seed)
    aux = family_parameters(fit, design, index)
    variance = distribution_variance(fit.family.name, fit.family.link, eta0, eta, aux)
    return variance, _bayes(fit, eta, aux, design) if bayes else None


def _bayes_alone(fit, draws, seed, null_fit) -> tuple[pd.DataFrame, dict]:
    """``r2_draws`` of a family without a distribution variance (``NAKAGAWA_UNDEFINED``): the Bayesian R², and
    the marginal and conditional R² as NaN with the reason."""
    require_rows(fit, "R²")
    if null_fit is not None:
        raise BayesMMError(f"null_fit gives the typical mean of Nakagawa's R², which family '{fit.family.name}' "
                           f"does not have ({NAKAGAWA_UNDEFINED[fit.family.name]}): leave null_fit out.")
    index = draw_index(fit, draws)
    design = prediction_design(fit)
    bayes = np.concatenate([_bayes(fit, linear_predictor(fit, design, index[part], seed=seed),
                                   family_parameters(fit, design, index[part]), design)
                            for part in _chunks(np.arange(len(index)), fit.design.n_obs)])
    table = pd.DataFrame({"marginal": np.nan, "conditional": np.nan, "bayes": bayes},
                         index=pd.Index(index, name="draw"))
    reason = f"undefined for family '{fit.family.name}': {NAKAGAWA_UNDEFINED[fit.family.name]}"
    return table, {"marginal": reason, "conditional": reason, "bayes": BAYES_METHOD}


def _components(fit, draws, seed, null_fit, bayes: bool) -> tuple[pd.DataFrame, np.ndarray | None]:
    """(per-draw variances, one column per :data:`COMPONENTS`; the Bayesian R² per draw or None)."""
    require_rows(fit, "R²")
    check_family(fit.family.name, fit.family.link)
    _check_null_fit(null_fit, fit)
    index = draw_index(fit, draws)
    design = prediction_design(fit)
    X = fit.design.X
    b = _flat(fit, naming.variable("fixed"), index)
    # var(X b) over the rows, per draw, as b' cov(X) b (no draws x rows array)
    covariance = np.atleast_2d(np.cov(X, rowvar=False)) if len(X) > 1 else np.zeros((X.shape[1],) * 2)
    var_fixed = np.einsum("sj,jk,sk->s", b, covariance, b)
    eta0 = b @ X.mean(axis=0) if null_fit is None else _null_intercept(null_fit, fit, len(index))
    var_random, var_observation = _random_variances(fit, index)
    pieces = [_per_row_parts(fit, design, index[part], eta0[part], seed, bayes)
              for part in _chunks(np.arange(len(index)), fit.design.n_obs)]
    var_dispersion = np.zeros(len(index)) if fit.family.name in SCALE_FAMILIES else var_observation
    values = (var_fixed, var_random, np.concatenate([p[0] for p in pieces]), var_dispersion)
    table = pd.DataFrame(dict(zip(COMPONENTS, values)), index=pd.Index(index, name="draw"))
    bad = ~np.isfinite(table.to_numpy()).all(axis=1) | (table.sum(axis=1).to_numpy() <= 0)
    if bad.any():
        raise BayesMMError(f"R² (Nakagawa) is undefined for {bad.sum()} of {len(bad)} draws: the variances are not "
                           f"finite or sum to zero (the {_method(fit, null_fit)} at the typical mean of a draw "
                           "outside the family's range?). Check the fit's linear predictor and family parameters.")
    return table, np.concatenate([p[1] for p in pieces]) if bayes else None


def r2_variances(fit, draws=None, null_fit=None) -> pd.DataFrame:
    """Per draw, the variances the marginal and conditional R² divide (insight's ``get_variance``): columns
    ``fixed``, ``random``, ``distribution``, ``dispersion`` (on the link scale; see the module docstring)."""
    return _components(fit, draws, 0, null_fit, bayes=False)[0]


def r2_draws(fit, draws=None, seed: int = 0, null_fit=None) -> tuple[pd.DataFrame, dict]:
    """(per-draw R² table with columns ``marginal``, ``conditional``, ``bayes``; each measure's method text).
    ``seed`` is unused by the computation (no new randomness) and kept for the answers' common signature."""
    if not nakagawa_defined(fit.family.name):
        return _bayes_alone(fit, draws, seed, null_fit)
    parts, bayes = _components(fit, draws, seed, null_fit, bayes=True)
    total = parts.sum(axis=1)
    explained = {"marginal": parts["fixed"], "conditional": parts["fixed"] + parts["random"]}
    table = pd.DataFrame({**{k: v / total for k, v in explained.items()}, "bayes": bayes}, index=parts.index)
    nakagawa = f"Nakagawa & Schielzeth: {_method(fit, null_fit)}"
    if parts["dispersion"].any():
        nakagawa += "; observation-level effects in the residual variance"
    return table, {"marginal": nakagawa, "conditional": nakagawa, "bayes": BAYES_METHOD}


def r2(fit, prob: float = 0.95, summary: bool = True, draws=None, seed: int = 0, null_fit=None) -> pd.DataFrame:
    """Marginal and conditional R² (Nakagawa & Schielzeth, as ``performance::r2_nakagawa``) and the Bayesian R²
    (Gelman et al. 2019, brms's ``bayes_R2``), each computed per posterior draw (see the module docstring).

    One row per measure (index ``measure``: ``marginal``, ``conditional``, ``bayes``) with the posterior mean
    (``estimate``), SD (``std_error``), the equal-tailed ``prob`` interval (``conf_low``, ``conf_high``) and the
    variance used (``method``); ``summary=False`` gives the draws, one column per measure. ``draws`` takes that
    many evenly spaced draws (None: all). ``null_fit``: a fitted null model (``y ~ 1 + random terms``) whose
    intercept gives the typical linear predictor ``eta0`` (``lambda = exp(eta0)`` on a log link) where the
    distribution variance needs one, as performance's refit does; by default ``eta0 = mean of X b``."""
    prob = check_prob(prob)
    if not isinstance(summary, (bool, np.bool_)):
        raise BayesMMError(f"summary must be True (a table) or False (the draws), not {summary!r}.")
    table, methods = r2_draws(fit, draws, seed, null_fit)
    if not summary:
        return table
    tail = (1 - prob) / 2
    rows = [{"estimate": table[m].mean(), "std_error": table[m].std(ddof=1) if len(table) > 1 else np.nan,
             "conf_low": table[m].quantile(tail), "conf_high": table[m].quantile(1 - tail), "method": methods[m]}
            for m in MEASURES]
    return pd.DataFrame(rows, index=pd.Index(MEASURES, name="measure"))
