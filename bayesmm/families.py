"""Response distributions as records: :class:`Family`.

A family is data, not code: its name and aliases, its links (default first), its auxiliary parameters
with the rule for their default prior, and the support its response must lie in.  The likelihood itself
is built by ``bayesmm.model.likelihoods`` from the family's ``name`` (the only place that builds numpyro
distributions).  Adding a family is one record here and one entry in that table.

Default priors of auxiliary parameters are templates filled in by ``bayesmm.priors`` with ``scale_y``
(the response's SD for identity-link continuous families, the SD of log(y) for lognormal, 1 on link
scales).  The choices, one line each:

* gaussian, student_t, lognormal ``sigma``: ``half_student_t(3, s_y)`` -- brms's default, in the units of
  the response (of log y for lognormal).
* student_t ``nu``: ``gamma(2, 0.1)`` -- brms's default (Juarez & Steel 2010): mean 20, yet half its mass
  below 17, so heavy tails are reachable and near-normal data are not pushed to small ``nu``.
* negbinomial / zero_inflated_negbinomial / hurdle_negbinomial ``phi``: ``inverse_gamma(0.5, 0.5)`` -- exactly
  ``1/sqrt(phi) ~ half_normal(1)`` (the Stan prior-choice recommendation): mode at the Poisson model
  (``phi`` -> infinity), median 2.2, yet strong overdispersion (``phi`` = 0.3) keeps 7% prior mass;
  brms's ``gamma(0.01, 0.01)`` is nearly improper and piles its mass at ``phi`` -> 0.
* nbinom1 ``alpha`` (var = mu (1 + alpha)): ``half_student_t(3, 2.5)`` -- mode at 0 (Poisson), heavy tail
  for variance-to-mean ratios well above 10.
* gamma ``shape``: ``inverse_gamma(0.5, 0.5)`` -- the coefficient of variation ``1/sqrt(shape)`` gets
  ``half_normal(1)``, the analogue of the half-t on gaussian ``sigma``; shapes from 0.3 to 1000 all keep
  prior mass (brms's ``gamma(0.01, 0.01)`` again is nearly improper).
* beta ``phi`` (precision, var = mu (1 - mu) / (1 + phi)): ``inverse_gamma(0.5, 0.5)`` -- as for the
  negative binomial (``1/sqrt(phi) ~ half_normal(1)``): no mass at ``phi`` = 0, where the density piles up at
  both ends of (0, 1), and a tail heavy enough (density ~ phi^-1.5) that precise proportions reach the
  hundreds: on betareg's GasolineYield (32 rows, ML ``phi`` 302) it gives 277 [150, 490], where the former
  ``gamma(2, 0.1)`` held ``phi`` at 92 and widened the coefficients' intervals 1.85x.
* beta_binomial ``phi``: ``inverse_gamma(0.5, 0.5)`` -- as for the negative binomial: mode at the
  binomial model (``phi`` -> infinity), strong overdispersion still reachable.
* ``zi``, ``hu`` (probability of a structural zero): ``beta(1, 1)`` -- uniform on (0, 1).
* zero_one_inflated_beta ``zoi``, ``coi``: ``beta(1, 1)``, brms's; its ``phi`` as beta's.
* ordbeta (Kubinec 2023) cut points ``k1 = cutzero`` and ``k2 = cutzero + cutgap`` on the logit scale: ``cutzero``
  ``student_t(3, 0, 2.5)`` as an intercept on a link scale; ``cutgap`` ``gamma(2, 0.5)`` -- no mass at 0 (where
  no value would lie inside (0, 1)), mean 4, 95% in [0.5, 11]: at ``eta`` between the cut points the share of
  exact 0s and 1s runs from near 0 to most of the data. Its ``phi`` as beta's.
* com_poisson ``shape`` (``nu``): ``lognormal(0, 1)`` -- centred on the Poisson (1), symmetric on the log scale
  between under- (> 1) and over-dispersion (< 1), 95% in [0.14, 7.1]; brms's ``gamma(0.01, 0.01)`` is nearly
  improper.
* hurdle_gamma ``shape``: as gamma's; hurdle_lognormal ``sigma``: ``half_student_t(3, 1)``, 1 on the log scale.
* cumulative thresholds (``Intercept[1]`` .. ``Intercept[K-1]``; priors class ``Intercept``, coef ``1`` ..
  ``K-1``): ``student_t(3, 0, 2.5)`` on each, restricted to ordered vectors -- brms's default, chosen over
  Betancourt's (2019, "Ordinal regression") Dirichlet-induced prior on the cut points because it is a prior per
  threshold: each can be set, shown and checked like any other coefficient (``{"Intercept": {"2": "normal(1,
  1)"}}``), the presets apply to thresholds as to an intercept (the default preset's intercept rule
  ``student_t(3, link(mean(y)), 2.5 s_y)`` is exactly it, with ``link(mean(y)) = 0`` and ``s_y = 1`` on the link
  scale), and brms fits are a direct reference (same model, same prior). It is proper and wide: at ``eta = 0``
  its central 95% puts each cumulative probability anywhere between 0.04% and 99.96% (logit). The Dirichlet prior's
  strength, a prior on the category probabilities that does not depend on the link, matters most with many
  sparse categories; there, a tighter per-threshold prior (``normal(0, 1.5)``) does similar work.
* categorical: each non-reference category's coefficients (``mub_Intercept``, ``mub_x``: brms's names) are
  class ``b`` with the default rule ``normal(0, 2.5 / s_x)``, so each intercept, a log-odds against the reference
  category, gets ``normal(0, 2.5)`` (brms: ``student_t(3, 0, 2.5)`` and flat slopes); each category's random
  effects have their own SDs (``half_student_t(3, 2.5 / s_z)``), independent across categories.
* weibull ``shape``: ``lognormal(0, 1)`` -- centred on the exponential model (``shape`` = 1, a constant
  hazard) and symmetric on the log scale, so falling (``shape`` < 1) and rising hazards are treated alike; 95% of
  its mass lies in [0.14, 7.1] and 99% below 10, which covers survival data (0.5 to 3 is common) and wear-out
  data (up to about 10). It is proper and has no mass at ``shape`` -> 0, where the density piles up at ``y`` = 0;
  brms's ``gamma(0.01, 0.01)`` is nearly improper and puts half its mass below 5e-29. The SD of ``log y`` is
  ``pi / (shape sqrt(6))``, so the prior is also ``lognormal(log 1.28, 1)`` on that SD.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .errors import DataError, FamilyError
from .links import LINKS

__all__ = ["Family", "AuxParam", "get_family", "FAMILIES", "check_response", "part_parameter", "part_link",
           "part_component", "PART_ARGUMENTS"]

@dataclass(frozen=True)
class AuxParam:
    """A family parameter other than the mean: name, constraint and default prior template."""

    name: str
    support: str
    default_prior: str
    description: str = ""


@dataclass(frozen=True)
class Family:
    """A response distribution. ``response`` is the support kind checked by :func:`check_response`:
    ``real``, ``binary``, ``binomial`` (successes of trials), ``count``, ``positive``, ``unit``, ``ordinal``
    (ordered categories) or ``categorical`` (unordered ones), both coded 1 .. K by :mod:`bayesmm.categories`."""

    name: str
    links: tuple[str, ...]
    response: str
    aux: tuple[AuxParam, ...] = ()
    aliases: tuple[str, ...] = ()
    link: str = ""
    description: str = ""
    #: the linear predictor models log(y) (lognormal): default priors autoscale from log(y)
    log_response: bool = False
    #: NUTS's default target acceptance rate. 0.95 where two parameters explain the same feature of the data
    #: (beta-binomial phi and the group SD both explain extra-binomial variance; zero-inflated NB zi and phi
    #: both explain zeros): the ridge between them needs smaller steps, as brms users set adapt_delta.
    target_accept: float = 0.8

    @property
    def default_target_accept(self) -> float:
        """The family's ``target_accept``, and 0.95 for a positive mean on a link that can leave its range
        (identity, inverse, sqrt for counts and gamma): steps that cross the edge are rejected as divergent
        (seen: 2-6 of 4000 on simulated gamma identity/inverse data at 0.8, none at 0.95)."""
        edge = self.response in ("count", "positive") and LINKS[self.link].mean_range != "positive"
        return max(self.target_accept, 0.95 if edge else 0.0)

    def __post_init__(self):
        if not self.link:
            object.__setattr__(self, "link", self.links[0])

    @property
    def scale_from_data(self) -> bool:
        """True when priors are scaled by the response's SD (identity-link continuous families: the mean is
        in the response's units; for lognormal in the units of log(y))."""
        return self.response in ("real", "positive") and self.link == "identity"

    def with_link(self, link: str | None) -> "Family":
        if link is None:
            return self
        if link not in self.links:
            raise FamilyError(f"Family '{self.name}' has no link '{link}'. Valid links: {', '.join(self.links)}.")
        return replace(self, link=link)


_SIGMA = AuxParam("sigma", "positive", "half_student_t(3, {scale_y})", "residual standard deviation")
_NB_PHI = AuxParam("phi", "positive", "inverse_gamma(0.5, 0.5)",
                   "negative binomial shape (precision): var = mu + mu^2 / phi")
_ZI = AuxParam("zi", "unit", "beta(1, 1)", "probability of a structural zero")
_HU = AuxParam("hu", "unit", "beta(1, 1)", "probability of a zero (the hurdle)")

FAMILIES = {
    f.name: f
    for f in (
        Family("gaussian", ("identity", "log"), "real", (_SIGMA,), ("normal",),
               description="y ~ Normal(mu, sigma)"),
        Family("bernoulli", ("logit", "probit", "cloglog"), "binary", (), ("binary", "logistic"),
               description="y in {0, 1} ~ Bernoulli(p)"),
        Family("binomial", ("logit", "probit", "cloglog"), "binomial", (), (),
               description="successes ~ Binomial(trials, p)"),
        Family("poisson", ("log", "identity", "sqrt"), "count", (), (),
               description="y ~ Poisson(mu)"),
        Family("negbinomial", ("log", "identity", "sqrt"), "count", (_NB_PHI,), ("nbinom2", "negative_binomial"),
               description="y ~ NegativeBinomial(mean mu, shape phi): var = mu + mu^2 / phi (NB2)"),
        Family("nbinom1", ("log",), "count",
               (AuxParam("alpha", "positive", "half_student_t(3, 2.5)", "NB1 dispersion: var = mu (1 + alpha)"),),
               description="y ~ NegativeBinomial(mean mu, shape mu / alpha): var = mu (1 + alpha) (glmmTMB nbinom1)"),
        Family("gamma", ("log", "inverse", "identity"), "positive",
               (AuxParam("shape", "positive", "inverse_gamma(0.5, 0.5)", "gamma shape: CV = 1 / sqrt(shape)"),),
               description="y > 0 ~ Gamma(shape, rate = shape / mu)"),
        Family("beta", ("logit", "probit", "cloglog"), "unit",
               (AuxParam("phi", "positive", "inverse_gamma(0.5, 0.5)", "precision: var = mu (1 - mu) / (1 + phi)"),),
               description="0 < y < 1 ~ Beta(mu phi, (1 - mu) phi)"),
        Family("beta_binomial", ("logit",), "binomial",
               (AuxParam("phi", "positive", "inverse_gamma(0.5, 0.5)",
                         "precision of the success probability: Beta(mu phi, (1 - mu) phi)"),),
               aliases=("betabinomial",), target_accept=0.95,
               description="successes ~ BetaBinomial(trials, mu phi, (1 - mu) phi)"),
        Family("student_t", ("identity", "log"), "real",
               (_SIGMA, AuxParam("nu", "positive", "gamma(2, 0.1)", "degrees of freedom")), ("student",),
               description="y ~ StudentT(nu, mu, sigma)"),
        Family("lognormal", ("identity",), "positive", (_SIGMA,), (), log_response=True,
               description="y > 0, log(y) ~ Normal(mu, sigma)"),
        Family("zero_inflated_poisson", ("log",), "count", (_ZI,), ("zip",),
               description="y ~ zi * 0 + (1 - zi) * Poisson(mu)"),
        Family("zero_inflated_negbinomial", ("log",), "count", (_NB_PHI, _ZI), ("zinb",), target_accept=0.95,
               description="y ~ zi * 0 + (1 - zi) * NegativeBinomial(mu, phi)"),
        Family("hurdle_poisson", ("log",), "count", (_HU,), (),
               description="P(y = 0) = hu; y > 0 ~ (1 - hu) * zero-truncated Poisson(mu)"),
        Family("hurdle_negbinomial", ("log",), "count", (_NB_PHI, _HU), (),
               description="P(y = 0) = hu; y > 0 ~ (1 - hu) * zero-truncated NegativeBinomial(mu, phi)"),
        Family("weibull", ("log", "identity", "inverse"), "positive",
               (AuxParam("shape", "positive", "lognormal(0, 1)",
                         "Weibull shape: a hazard rising (> 1) or falling (< 1) in time; 1 is the exponential"),),
               description="y > 0 ~ Weibull(shape, scale = mu / Gamma(1 + 1 / shape))"),
        Family("cumulative", ("logit", "probit", "cloglog"), "ordinal", (), ("ordinal", "cumulative_logit"),
               description="P(y <= k) = F(c_k - eta), y in K ordered categories, thresholds c_1 < ... < c_{K-1}"),
        Family("categorical", ("logit",), "categorical", (), ("multinomial", "multinomial_logit"),
               description="P(y = k) = softmax(0, eta_2, ..., eta_K)_k: one linear predictor per category but the "
                           "first (the reference)"),
        Family("exponential", ("log", "identity", "inverse"), "positive", (),
               description="y > 0 ~ Exponential(rate = 1 / mu)"),
        Family("zero_inflated_binomial", ("logit",), "binomial", (_ZI,), ("zib",),
               description="successes ~ zi * 0 + (1 - zi) * Binomial(trials, p)"),
        Family("hurdle_gamma", ("log",), "nonnegative",
               (AuxParam("shape", "positive", "inverse_gamma(0.5, 0.5)", "gamma shape: CV = 1 / sqrt(shape)"), _HU),
               description="P(y = 0) = hu; y > 0 ~ (1 - hu) * Gamma(shape, rate = shape / mu)"),
        Family("hurdle_lognormal", ("identity",), "nonnegative", (_SIGMA, _HU), log_response=True,
               description="P(y = 0) = hu; y > 0 ~ (1 - hu) * LogNormal(mu, sigma), mu the mean of log y"),
        Family("zero_one_inflated_beta", ("logit",), "unit_closed",
               (AuxParam("phi", "positive", "inverse_gamma(0.5, 0.5)", "precision of the beta part"),
                AuxParam("zoi", "unit", "beta(1, 1)", "probability of a 0 or a 1"),
                AuxParam("coi", "unit", "beta(1, 1)", "share of 1 among the zeros and ones")), ("zoib",),
               description="P(y = 1) = zoi coi, P(y = 0) = zoi (1 - coi), else (1 - zoi) Beta(mu phi, (1 - mu) phi)"),
        Family("ordbeta", ("logit",), "unit_closed",
               (AuxParam("phi", "positive", "inverse_gamma(0.5, 0.5)", "precision of the beta part"),
                AuxParam("cutzero", "real", "student_t(3, 0, 2.5)", "lower cut point k1 (logit scale)"),
                AuxParam("cutgap", "positive", "gamma(2, 0.5)", "upper cut point k2 minus k1")), ("ordered_beta",),
               description="P(y = 0) = 1 - expit(eta - k1), P(y = 1) = expit(eta - k2), else the rest times "
                           "Beta(mu phi, (1 - mu) phi) (Kubinec 2023)"),
        Family("com_poisson", ("log",), "count",
               (AuxParam("shape", "positive", "lognormal(0, 1)",
                         "Conway-Maxwell-Poisson nu: above 1 under-, below 1 over-dispersed, 1 the Poisson"),),
               aliases=("conway_maxwell_poisson",),
               description="P(y) = (mu^y / y!)^shape / Z(mu, shape) (brms's com_poisson; mu is not the mean)"),
    )
}


#: The formula arguments of Model/fit for family parameters, as brms's bf(y ~ ., zi ~ .) and glmmTMB's
#: ziformula / dispformula: argument -> how the parameter is picked from the family.
PART_ARGUMENTS = ("zi", "hu", "dispersion")
#: Labels of the parts in tidy() (``component``), by the family parameter they model.
COMPONENTS = {"zi": "zi", "hu": "hu"}


def part_parameter(family: Family, argument: str) -> str:
    """The family parameter a formula argument models: ``zi``/``hu`` as named, ``dispersion`` the family's
    scale or dispersion (sigma, phi, alpha, shape)."""
    names = [aux.name for aux in family.aux]
    if argument in ("zi", "hu"):
        if argument not in names:
            raise FamilyError(f"Family '{family.name}' has no '{argument}' parameter, so it takes no {argument}= "
                              f"formula; use a zero-inflated or hurdle family.")
        return argument
    dispersion = [aux.name for aux in family.aux if aux.support == "positive" and aux.name != "nu"]
    if not dispersion:
        raise FamilyError(f"Family '{family.name}' has no dispersion parameter, so it takes no dispersion= formula.")
    return dispersion[0]


def part_link(parameter: str) -> str:
    """Probabilities get a logit link, positive parameters a log link."""
    return "logit" if parameter in ("zi", "hu") else "log"


def part_component(parameter: str) -> str:
    return COMPONENTS.get(parameter, "disp")


def get_family(family, link: str | None = None) -> Family:
    """Look a family up by name or alias (case-insensitive); pass a :class:`Family` through."""
    if isinstance(family, Family):
        return family.with_link(link)
    if not isinstance(family, str):
        raise FamilyError(f"family must be a name such as 'gaussian' or 'poisson', not {type(family).__name__}.")
    key = family.strip().lower().replace("-", "_")
    for record in FAMILIES.values():
        if key == record.name or key in record.aliases:
            return record.with_link(link)
    names = sorted(FAMILIES) + sorted(a for f in FAMILIES.values() for a in f.aliases)
    raise FamilyError(f"Unknown family '{family}'. Valid families: {', '.join(names)}.")


def _fail(family: Family, column: str, what: str, bad: np.ndarray, row_labels) -> None:
    rows = np.flatnonzero(bad)
    labels = [row_labels[i] if row_labels is not None else i for i in rows[:5]]
    raise FamilyError(f"Family '{family.name}' needs {what}, but the response '{column}' has {len(rows)} rows "
                      f"that are not (first rows: {labels}). Check the response or choose another family.")


def _binary(values: np.ndarray, family: Family, column: str, row_labels) -> np.ndarray:
    """0/1, booleans, or a two-level factor (first level = failure, as R's glm does)."""
    if values.dtype == bool:
        return values.astype(float)
    if not np.issubdtype(values.dtype, np.number):
        levels = sorted(set(values.tolist()))
        if len(levels) != 2:
            raise FamilyError(f"Family '{family.name}' needs a 0/1 response; '{column}' has {len(levels)} distinct "
                              f"values {levels[:5]}. Recode it to two levels.")
        return (values == levels[1]).astype(float)
    values = values.astype(float)
    _check(family, column, "values 0 or 1", ~np.isin(values, (0.0, 1.0)), row_labels)
    return values


def _check(family, column, what, bad, row_labels):
    if np.any(bad):
        _fail(family, column, what, bad, row_labels)


def check_response(family: Family, y, trials, column: str, row_labels=None):
    """Validate (and convert) the response for ``family``; return float arrays ``(y, trials)``."""
    y = np.asarray(y)
    kind = family.response
    if kind in ("ordinal", "categorical"):  # coded 1 .. K by bayesmm.categories.coded_response
        if trials is not None:
            raise FamilyError(f"Family '{family.name}' takes one column of categories, not {column}.")
        _check(family, column, "category codes 1, 2, ...", (y < 1) | (y != np.round(y)), row_labels)
        return y.astype(float), None
    if kind == "binary":
        if trials is not None:
            raise FamilyError(f"Family 'bernoulli' takes a 0/1 response, not {column}; use family='binomial'.")
        return _binary(y, family, column, row_labels), None
    if trials is None and kind == "binomial":
        if family.name == "beta_binomial":
            raise FamilyError(f"Family 'beta_binomial' needs successes and trials, e.g. cbind(successes, failures) "
                              f"or p(successes, trials), not the single column '{column}': with one trial per row "
                              "its phi cannot be told from the data. Use family='bernoulli' for 0/1 responses.")
        y01 = _binary(y, family, column, row_labels)
        return y01, np.ones_like(y01)
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise DataError(f"The response '{column}' is not numeric (dtype {y.dtype}); family '{family.name}' "
                        "needs numbers.")
    y = y.astype(float)
    if trials is not None and kind != "binomial":
        raise FamilyError(f"{column} gives successes and trials, which only binomial-type families take, "
                          f"not '{family.name}'.")
    if kind == "binomial":
        trials = np.asarray(trials, dtype=float)
        _check(family, column, "non-negative whole successes", (y < 0) | (y != np.round(y)), row_labels)
        _check(family, column, "whole trials of at least 1", (trials < 1) | (trials != np.round(trials)), row_labels)
        _check(family, column, "successes no larger than trials", y > trials, row_labels)
        return y, trials
    if kind == "count":
        _check(family, column, "non-negative whole counts", (y < 0) | (y != np.round(y)), row_labels)
    elif kind == "positive":
        _check(family, column, "values above 0", y <= 0, row_labels)
    elif kind == "unit":
        _check(family, column, "values strictly between 0 and 1", (y <= 0) | (y >= 1), row_labels)
    elif kind == "nonnegative":
        _check(family, column, "values of 0 or above", y < 0, row_labels)
    elif kind == "unit_closed":
        _check(family, column, "values from 0 to 1", (y < 0) | (y > 1), row_labels)
    return y, None
