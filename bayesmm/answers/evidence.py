"""Fit -> intervals and p-value analogues for named parameters.

Every scalar parameter of a fit has one name, the one :meth:`Fit.intervals`, :meth:`Fit.pvalues` and
:meth:`Fit.hypothesis` accept and every message uses (brms's names without the ``b_`` prefix of fixed effects,
:func:`bayesmm.naming.canonical`):

* fixed effects by their column names (``Intercept``, ``Days``, ``period[2]``); those of a family
  parameter's own formula prefixed by its component (``zi_Intercept``, ``disp_x``);
* ``sd_<group>__<term>`` and ``cor_<group>__<term1>__<term2>`` (random-effect SDs and correlations);
* family parameters by name (``sigma``, ``phi``, ``zi``, ...);
* random effects ``r_<group>[<level>,<term>]``.

A selection may also name a whole posterior variable (``b``, ``sd_Subject``, ``r_Subject``).

The p-value analogues follow bayestestR (Makowski et al. 2019, "Indices of effect existence and
significance in the Bayesian framework", Front. Psychol. 10:2767); the density at a point is a Gaussian
kernel estimate with R's default bandwidth (``bw.nrd0``, Silverman's rule), as ``bayestestR::density_at``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from .. import naming
from ..categories import threshold_names
from ..distributions import DISTRIBUTIONS
from ..errors import BayesMMError, BayesMMWarning, closest
from ..families import part_component
from ..posterior import level_parameters, scalar_parameters
from .arguments import check_interval, check_prob

__all__ = ["AnswerTable", "Parameter", "catalogue", "draws_of", "select", "intervals", "pvalues", "log_density_at",
           "prior_of", "prior_log_density", "default_rope", "valid_names"]

_BINARY = ("bernoulli", "binomial", "beta_binomial")


class AnswerTable(pd.DataFrame):
    """A DataFrame that prints every column (4 significant digits); a ``bf_note`` column is printed as
    footnotes under the table."""

    @property
    def _constructor(self):
        return AnswerTable

    def __repr__(self) -> str:
        notes = self["bf_note"] if "bf_note" in self.columns else pd.Series(dtype=str)
        shown = pd.DataFrame(self.drop(columns=["bf_note"], errors="ignore"))
        with pd.option_context("display.max_columns", None, "display.width", 10_000, "display.max_rows", 60,
                               "display.float_format", "{:.4g}".format):
            text = repr(shown)
        lines = [f"  {name}: {note}" for name, note in notes.items() if note]
        return text + ("\nbf10 notes:\n" + "\n".join(lines) if lines else "")


@dataclass(frozen=True)
class Parameter:
    """One scalar parameter: its ``name``, ``kind`` (``fixed``, ``sd``, ``cor``, ``family`` or ``ranef``),
    the posterior ``variable`` and ``index`` that hold its draws, and the formula ``component``."""

    name: str
    kind: str
    variable: str
    index: tuple = ()
    component: str = "cond"
    term: str = ""


def catalogue(fit) -> dict:
    """name -> :class:`Parameter` for every scalar parameter of ``fit``, in ``tidy()``'s order, random
    effects last (cached on the fit)."""
    return fit.memo("catalogue", lambda: _catalogue(fit))


def _catalogue(fit) -> dict:
    post = fit.idata.posterior
    names = scalar_parameters(post, fit.design, fit.family) + level_parameters(post, fit.design)
    params = [Parameter(naming.canonical(name), name.kind, naming.variable(name), index, name.part, name.term)
              for name, index in names]
    return {p.name: p for p in params}


def draws_of(fit, parameter: Parameter) -> np.ndarray:
    """The draws of one parameter, shaped (chain, draw)."""
    values = fit.idata.posterior[parameter.variable].values
    return values[(Ellipsis, *parameter.index)] if parameter.index else values


def valid_names(names, limit: int = 40) -> str:
    """The names for an error message: all but the random effects, which are summarised by their pattern."""
    names = [n for n in names if naming.parse(n).kind != "ranef"] + ["r_<group>[<level>,<term>]"]
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def select(fit, parameters, default: str = "summary") -> list:
    """Parameters named by ``parameters`` (a name or a list; a posterior variable name selects all its
    entries). ``None`` gives the defaults: every parameter but the random effects (``"summary"``) or the
    fixed effects (``"fixed"``). An unknown name is a :class:`BayesMMError` listing the valid ones."""
    table = catalogue(fit)
    if parameters is None:
        kinds = ("fixed",) if default == "fixed" else ("fixed", "sd", "cor", "family")
        return [p for p in table.values() if p.kind in kinds]
    if isinstance(parameters, str):
        parameters = [parameters]
    chosen = []
    for name in parameters:
        name = str(name)
        if name in table:
            chosen.append(table[name])
            continue
        whole = [p for p in table.values() if p.variable == name]
        if not whole:
            variables = ", ".join(fit.idata.posterior.data_vars)
            raise BayesMMError(f"The fit has no parameter '{name}'.{closest(name, table)} Valid names: "
                               f"{valid_names(table)} (or a whole variable: {variables}).")
        chosen += whole
    return list(dict.fromkeys(chosen))


def intervals(fit, parameters=None, prob: float = 0.95, interval: str = "eti") -> pd.DataFrame:
    """Posterior mean, median, SD and a credible interval for any parameters (see the module docstring for
    the names): equal-tailed (``"eti"``, quantiles (1 - prob)/2 and (1 + prob)/2, as brms's
    ``posterior_summary``) or the highest-density interval (``"hdi"``, the shortest interval holding
    ``prob`` of the draws, ArviZ's ``hdi``)."""
    import arviz as az

    prob, interval = check_prob(prob), check_interval(interval)
    rows = []
    for parameter in select(fit, parameters):
        flat = draws_of(fit, parameter).ravel()
        if interval == "hdi":
            low, high = az.hdi(flat, hdi_prob=prob)
        else:
            low, high = np.quantile(flat, [(1 - prob) / 2, (1 + prob) / 2])
        rows.append({"parameter": parameter.name, "estimate": flat.mean(), "median": np.median(flat),
                     "std_error": flat.std(ddof=1), "conf_low": low, "conf_high": high})
    return AnswerTable(pd.DataFrame(rows).set_index("parameter"))


# ---------------------------------------------------------------------------------------- densities
def _bandwidth(draws: np.ndarray) -> float:
    """R's ``bw.nrd0``: 0.9 min(SD, IQR/1.34) n^(-1/5)."""
    spread = min(np.std(draws, ddof=1), stats.iqr(draws) / 1.34) or np.std(draws, ddof=1) or 1.0
    return 0.9 * spread * len(draws) ** -0.2


def log_density_at(draws: np.ndarray, points) -> np.ndarray:
    """Log of a Gaussian kernel density estimate of ``draws`` at ``points`` (bandwidth ``bw.nrd0``),
    computed in log space so that a point far in the tail gives a finite (if extrapolated) value."""
    draws = np.asarray(draws, dtype=float).ravel()
    points = np.atleast_1d(np.asarray(points, dtype=float))
    width = _bandwidth(draws)
    z = (points[:, None] - draws[None, :]) / width
    return special.logsumexp(-0.5 * z**2, axis=1) - np.log(len(draws) * width * np.sqrt(2 * np.pi))


def _p_map(draws: np.ndarray, null: float = 0.0) -> float:
    """bayestestR's ``p_map``: density at the null over density at the MAP (the mode of the same kernel
    estimate, searched on a 512-point grid over the draws' range)."""
    grid = np.linspace(draws.min(), draws.max(), 512)
    at_mode = log_density_at(draws, grid).max()
    return float(min(1.0, np.exp(log_density_at(draws, null)[0] - at_mode)))


# ------------------------------------------------------------------------------------------ priors
def prior_of(fit, parameter: Parameter):
    """The PriorSpec in effect for a fixed effect (``None`` when the fit has no prior record)."""
    entries = fit.prior_entries
    if parameter.component == "cond":
        cls, coef = ("Intercept", "") if parameter.term == "Intercept" else ("b", parameter.term)
    else:
        aux = next(a.name for a in fit.family.aux
                   if a.name in fit.design.parts and part_component(a.name) == parameter.component)
        cls, coef = (f"Intercept_{aux}", "") if parameter.term == "Intercept" else (f"b_{aux}", parameter.term)
    return next((e.prior for e in entries if e.cls == cls and e.coef == coef and not e.group), None)


def prior_log_density(fit, parameter: Parameter, point: float = 0.0) -> tuple[float, str]:
    """Log prior density of a fixed effect at ``point`` from its actual prior (closed form, scipy.stats),
    or (nan, reason) where there is none: a flat prior (improper), a prior without a closed form, or the
    model ``Intercept`` when the predictors are not centred at 0 (the prior is on the intercept at the
    predictors' means; the reported Intercept's prior is its convolution with the slopes' priors)."""
    if parameter.kind != "fixed":
        return np.nan, "Bayes factors are computed for fixed effects only"
    if parameter.component == "cond" and parameter.term in threshold_names(fit.design, fit.family):
        return np.nan, ("a threshold's prior is set on the ordered thresholds at the predictors' means, so the "
                        "reported threshold's prior density has no closed form")
    spec = prior_of(fit, parameter)
    if spec is None:
        return np.nan, "no prior record (a fit without its model)"
    if spec.dist == "flat":
        return np.nan, "flat prior: the Savage-Dickey BF is undefined under an improper prior; set a proper prior"
    if parameter.component == "cond" and parameter.term == "Intercept":
        design = fit.design
        slopes = [j for j, n in enumerate(design.fixed_names) if n != "Intercept"]
        if slopes and np.any(design.column_means()[slopes] != 0):
            return np.nan, ("the Intercept's prior is set on the intercept at the predictors' means, so the "
                            "reported Intercept's prior density has no closed form")
    closed_form = DISTRIBUTIONS[spec.dist].scipy
    if closed_form is None:
        return np.nan, f"no closed-form density for the prior {spec}"
    value = float(closed_form(spec.args).logpdf(point))
    if not np.isfinite(value):
        return np.nan, f"the prior {spec} has no mass at {point:g}"
    return value, ""


# -------------------------------------------------------------------------------------------- rope
def default_rope(fit, parameter: Parameter) -> float:
    """bayestestR's ``rope_range``: half-width 0.1 SD of the response for identity-link continuous models
    (of log y for lognormal), 0.1 pi / sqrt(3) = 0.18 on the logit scale (binary outcomes and the
    zero-inflation/hurdle formulas), 0.05 for correlations and 0.1 otherwise (bayestestR's fallback; for
    count models it suggests the residual variance, which it calls experimental)."""
    family = fit.family
    if parameter.kind == "cor":
        return 0.05
    if parameter.component in ("zi", "hu") or (parameter.component == "cond" and family.name in _BINARY):
        return 0.1 * np.pi / np.sqrt(3)
    if parameter.component == "cond" and family.scale_from_data:
        y = np.log(fit.design.y) if family.log_response else fit.design.y
        return 0.1 * float(np.std(y, ddof=1))
    return 0.1


def _rope_for(fit, parameter: Parameter, rope) -> tuple[float, float]:
    value = rope.get(parameter.name) if isinstance(rope, dict) else rope
    if value is None:
        half = default_rope(fit, parameter)
        return -half, half
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and value > 0:
        return -float(value), float(value)
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        low = high = np.nan
    if isinstance(value, (tuple, list)) and np.isfinite(low) and np.isfinite(high) and low < high:
        return low, high
    raise BayesMMError(f"rope for '{parameter.name}' must be a positive half-width (0.1) or a (low, high) pair "
                       f"with low < high, not {value!r}.")


def pvalues(fit, parameters=None, rope=None) -> pd.DataFrame:
    """One row per parameter (default: the fixed effects) with:

    * ``pd``: probability of direction, the posterior share on the side of 0 where the median lies
      (bayestestR's ``p_direction``), between 0.5 and 1;
    * ``p_direction``: ``2 (1 - pd)``, MCMCglmm's ``pMCMC`` and bayestestR's ``pd_to_p``: it is close to a
      two-sided frequentist p-value under flat priors, not the probability that the effect is 0 (0 means
      below 1 / number of draws);
    * ``rope_low``, ``rope_high``, ``in_rope``: the region of practical equivalence and the share of the
      whole posterior inside it (bayestestR's ``p_rope``); defaults as :func:`default_rope`; ``rope=``
      takes a half-width, a (low, high) pair, or a dict of either by parameter name;
    * ``p_map``: posterior density at 0 over density at the mode (bayestestR's ``p_map``);
    * ``bf10``: Savage-Dickey Bayes factor for the effect against the point null,
      prior density at 0 / posterior density at 0 (Wagenmakers et al. 2010), the prior density from the
      parameter's actual prior in closed form, the posterior density a kernel estimate (bayestestR uses a
      logspline instead). It depends on the prior's width. Where 0 lies beyond the draws the density there
      is an extrapolation and only the order of BF10 means something. ``bf_note`` says why a BF is missing
      (a flat prior is refused, with a warning).

    None of these is the probability that an effect is real; they describe the posterior."""
    rows, flat_prior = [], []
    for parameter in select(fit, parameters, default="fixed"):
        draws = draws_of(fit, parameter).ravel()
        above, below = np.mean(draws > 0), np.mean(draws < 0)
        pd_value = float(max(above, below))
        low, high = _rope_for(fit, parameter, rope)
        prior_log, note = prior_log_density(fit, parameter)
        post_log = log_density_at(draws, 0.0)[0]
        outside = not draws.min() <= 0 <= draws.max()
        if not note and outside:
            note = "0 lies beyond the posterior draws: extrapolated density, only the order of BF10 is meaningful"
        if "flat prior" in note:
            flat_prior.append(parameter.name)
        rows.append({"parameter": parameter.name, "pd": pd_value, "p_direction": 2 * (1 - pd_value),
                     "rope_low": low, "rope_high": high, "in_rope": float(np.mean((draws >= low) & (draws <= high))),
                     "p_map": _p_map(draws), "bf10": float(np.exp(prior_log - post_log)), "bf_note": note})
    if flat_prior:
        warnings.warn(f"No Bayes factor for {', '.join(flat_prior)}: a flat prior has no density to compare "
                      "with (Savage-Dickey needs a proper prior). Set one, e.g. priors={'b': 'normal(0, 5)'}.",
                      BayesMMWarning, stacklevel=3)
    return AnswerTable(pd.DataFrame(rows).set_index("parameter"))
