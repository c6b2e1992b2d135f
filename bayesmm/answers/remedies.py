"""Why a parameter mixed poorly, and paste-able code for ``fit.diagnose()``'s advice.

:func:`causes_of` names the likely causes of one poorly mixing parameter, most specific first: too few
levels of its grouping factor (GLMM FAQ: at least 5-6), an SD of its group piled up at zero (a funnel,
Betancourt and Girolami 2015), a ridge with another parameter (|rank correlation| > 0.9 over the draws;
positive parameters on the log scale), a run too short to adapt the sampler; failing those, chains too
short for this posterior.

The code comes in two forms: ``fit = bmm.update(fit, ...)`` when only sampler settings change (the model, data
and priors stay those of ``fit``), and ``fit = bmm.fit("formula", fit.data, ...)`` when the formula,
family or priors change, written with the fit's own family, link, priors and other constructor arguments.
The formula is rewritten on the parsed :class:`~bayesmm.formula.FormulaSpec` (a term dropped, a group made
a fixed effect, a covariate wrapped in ``scale()``) and printed back, so the code always parses. On the command
line (:func:`bayesmm.phrasing.for_command_line`) both forms are a ``bayesmm fit`` command with its flags.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from .. import naming
from ..phrasing import command_line, fit_command
from ..priors import PriorSpec, in_units_of

__all__ = ["refit_code", "formula_code", "without_term", "as_fixed_effect", "with_scaled", "scaled_prior",
           "nice_factor", "prior_text", "Cause", "causes_of", "few_levels_causes",
           "centred_levels"]

_DEFAULT_SETTINGS = {"chains": 4, "draws": 1000, "warmup": 1000}
_CONSTRUCTOR_DEFAULTS = {"family": "gaussian", "priors": None, "link": None, "na_action": "omit",
                         "weights": None, "zi": None, "hu": None, "dispersion": None, "factors": None}


def _settings(fit, changes: dict) -> dict:
    """The fit's chains (when not the default), at least the default warmup and draws, its seed, then
    ``changes``."""
    s = fit.settings
    out = {}
    if s.chains != _DEFAULT_SETTINGS["chains"]:
        out["chains"] = s.chains
    for name in ("warmup", "draws"):
        value = max(int(getattr(s, name)), _DEFAULT_SETTINGS[name])
        if value != _DEFAULT_SETTINGS[name]:
            out[name] = value
    if s.target_accept != fit.family.default_target_accept:
        out["target_accept"] = s.target_accept
    if s.max_tree_depth != 10:
        out["max_tree_depth"] = s.max_tree_depth
    out.update(changes)
    out["seed"] = int(s.seed)  # last, as in a call written by hand
    return out


def _arguments(values: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def refit_code(fit, **changes) -> str:
    """``fit = bmm.update(fit, ...)``: the same model with other sampler settings."""
    if command_line() is not None:
        return formula_code(fit, model_changed=False, **changes)
    if fit.data is None:
        return formula_code(fit, **changes)
    return f"fit = bmm.update(fit, {_arguments(_settings(fit, changes))})"


def _merged_priors(old, new):
    """The user's priors with ``new`` on top: one dict when both are dicts, else a list (presets, files and
    dicts mixed; later entries win)."""
    if new is None:
        return old
    if old is None:
        return new
    if isinstance(old, dict) and isinstance(new, dict):
        return _deep_merge(old, new)
    return [*old, new] if isinstance(old, list) else [old, new]


def _deep_merge(old: dict, new: dict) -> dict:
    merged = dict(old)
    for key, value in new.items():
        both = isinstance(merged.get(key), dict) and isinstance(value, dict)
        merged[key] = _deep_merge(merged[key], value) if both else value
    return merged


def formula_code(fit, formula: str | None = None, priors=None, family: str | None = None, model_changed: bool = True,
                 **changes) -> str:
    """``fit = bmm.fit("formula", fit.data, ...)``: the fit's call with another formula, family or
    priors on top of its own, and the sampler settings of :func:`refit_code`."""
    arguments = fit.call.arguments()
    arguments.pop("formula", None)
    if not isinstance(arguments.get("family"), str):
        arguments["family"] = fit.family.name
    if family is not None:
        arguments["family"], arguments["link"] = family, None
    arguments["priors"] = _merged_priors(arguments.get("priors"), priors)
    kept = {k: v for k, v in arguments.items() if k in _CONSTRUCTOR_DEFAULTS and v != _CONSTRUCTOR_DEFAULTS[k]}
    data = "fit.data" if fit.data is not None else "data"
    text = formula if formula is not None else fit.formula
    if command_line() is not None:
        return fit_command(text, {**kept, **_settings(fit, changes)}, model_changed)
    rest = _arguments({**kept, **_settings(fit, changes)})
    return f"fit = bmm.fit({text!r}, {data}, {rest})"


# ------------------------------------------------------------------------------------ formula rewrites
def without_term(spec, group: str, term: str) -> str | None:
    """The formula without ``term``'s variance in ``group`` (``"Intercept"`` drops the varying intercept;
    a bar term left empty is dropped); None when the term is not found."""
    random, found = [], False
    for piece in spec.random:
        if piece.group != group or not (term in piece.terms or (term == "Intercept" and piece.intercept)):
            random.append(piece)
            continue
        found = True
        if term == "Intercept":
            piece = dataclasses.replace(piece, intercept=False)
        else:
            piece = dataclasses.replace(piece, terms=tuple(t for t in piece.terms if t != term))
        if piece.intercept or piece.terms:
            random.append(piece)
    return str(dataclasses.replace(spec, random=tuple(random))) if found else None


def as_fixed_effect(spec, group: str, numeric: bool) -> str:
    """The formula with ``group``'s random effects removed and ``group`` added as a fixed factor
    (``C(g)`` for a numeric column)."""
    random = tuple(r for r in spec.random if r.group != group)
    name = f"C({group})" if numeric else group
    return str(dataclasses.replace(spec, random=random, fixed_terms=(*spec.fixed_terms, name)))


def with_scaled(spec, columns) -> str:
    """The formula with each of ``columns`` written ``scale(column)`` in the fixed and random parts."""
    def rewrite(text: str) -> str:
        for column in columns:
            text = re.sub(rf"(?<![\w.`]){re.escape(column)}(?![\w.`(])", f"scale({column})", text)
        return text

    random = tuple(dataclasses.replace(r, terms=tuple(rewrite(t) for t in r.terms)) for r in spec.random)
    return str(dataclasses.replace(spec, fixed_terms=tuple(rewrite(t) for t in spec.fixed_terms), random=random))


# ------------------------------------------------------------------------------------------ priors
def nice_factor(ratio: float) -> float:
    """The smallest of 2, 5, 10, 20, 50, ... at least ``ratio``."""
    ratio = max(float(ratio), 2.0)
    power = 10.0 ** math.floor(math.log10(ratio))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= ratio * (1 - 1e-12))


def scaled_prior(spec: PriorSpec, factor: float) -> PriorSpec | None:
    """The prior of ``factor * X`` for ``X`` with prior ``spec`` (wider for ``factor`` > 1), or None where
    the family has no scale (beta)."""
    if spec.dist == "lognormal":
        scaled = PriorSpec("lognormal", (spec.args[0] + float(np.log(factor)), spec.args[1]))
    elif spec.dist == "uniform":
        scaled = PriorSpec("uniform", (spec.args[0] * factor, spec.args[1] * factor))
    else:
        try:
            scaled = in_units_of(PriorSpec(spec.dist, spec.args), factor)
        except KeyError:
            return None
    args = tuple(float(f"{a:.3g}") for a in scaled.args)
    return PriorSpec(scaled.dist, args, spec.per)


def prior_text(cls: str, group: str, coef: str, spec: PriorSpec) -> dict:
    """A ``priors=`` dict setting ``spec`` on one parameter: ``{"phi": ...}``, ``{"sd": {"g": {"x": ...}}}``."""
    if cls == "sd" or cls.startswith("sd_"):  # sd_zi: an SD of a family parameter's formula
        return {cls: {group: {coef: str(spec)}}}
    return {cls: str(spec)}


# ------------------------------------------------------------------------------------------ causes
class Cause(NamedTuple):
    """One likely cause of a poorly mixing parameter: what it is, and code that addresses it."""

    text: str
    code: str


#: |posterior correlation| above which two parameters lie on a ridge
RIDGE_CORRELATION = 0.9
#: warmup shorter than this cannot adapt the step size and the mass matrix (Stan's default is 1000)
SHORT_WARMUP = 300


def causes_of(fit, row) -> list[Cause]:
    """Likely causes of one poorly mixing parameter (a row of :func:`bayesmm.answers.convergence.mixing_table`), most
    specific first: too few levels of its group, an SD of its group piled at zero, a ridge with another
    parameter, a run too short to adapt; failing those, chains too short for this posterior."""
    found = []
    group = (row.group if row.effect in ("ran_pars", "ranef") and row.group != "Residual"
             and getattr(row, "component", "cond") == "cond" else "")  # a part's SDs: no group-level causes
    if group:
        found += few_levels_causes(fit, group)
        found += _near_zero(fit, group)
        found += _centred_funnel(fit, group)
    if row.effect != "ranef":
        found += _ridge(fit, row)
    s = fit.settings
    if s.warmup < SHORT_WARMUP or s.chains * s.draws < 400:
        found.append(Cause(f"a short run ({s.warmup} warmup and {s.draws} draws per chain): too short to adapt "
                           "the sampler and reach 400 effective draws",
                           refit_code(fit, warmup=max(1000, s.warmup), draws=max(1000, s.draws))))
    if not found:
        found.append(Cause("no specific cause found: the chains need more iterations for this posterior",
                           refit_code(fit, warmup=max(2000, 2 * s.warmup), draws=max(2000, 2 * s.draws))))
    return found


def _n_levels(fit, group: str) -> int:
    return next(b.n_levels for b in fit.design.blocks if b.group == group)


def _stronger_sd_prior(fit, group: str, term: str) -> PriorSpec | None:
    """``half_normal(m)`` with ``m`` the current prior's median: the same scale, without the heavy tail."""
    from .checks import prior_distribution, prior_in_effect

    spec = prior_in_effect(fit, "sd", group, term)
    distribution = prior_distribution(spec) if spec is not None else None
    if distribution is None:
        return None
    return PriorSpec("half_normal", (float(f"{distribution.ppf(0.5):.3g}"),), spec.per)


def few_levels_causes(fit, group: str) -> list[Cause]:
    """``group`` has fewer than 5 levels: a stronger prior on each of its SDs, or ``group`` as a fixed effect."""
    from ..posterior import group_terms

    levels = _n_levels(fit, group)
    if levels >= 5:
        return []
    text = f"'{group}' has only {levels} levels: its variance is barely identified by the data"
    numeric = False
    if group in getattr(fit.data, "columns", ()):
        numeric = bool(np.issubdtype(np.asarray(fit.data[group]).dtype, np.number))
    fixed = formula_code(fit, formula=as_fixed_effect(fit.design.spec, group, numeric))
    stronger = {term: _stronger_sd_prior(fit, group, term) for term in group_terms(fit.design)[group][0]}
    if any(spec is None for spec in stronger.values()):
        return [Cause(text, f"{fixed}  # '{group}' as a fixed effect")]
    prior = formula_code(fit, priors={"sd": {group: {term: str(spec) for term, spec in stronger.items()}}})
    return [Cause(text, f"{prior}  # stronger priors on the SDs of {group}\n"
                        f"{fixed}  # or '{group}' as a fixed effect")]


def _near_zero(fit, group: str) -> list[Cause]:
    """SDs of ``group`` whose posterior piles up at zero (mode within 5% of the 95% quantile of zero)."""
    from .density import density_at_zero_and_mode
    from ..posterior import group_terms

    terms, _ = group_terms(fit.design)[group]
    draws = fit.idata.posterior[naming.variable("sd", group)].values.reshape(-1, len(terms))
    found = []
    for j, term in enumerate(terms):
        _, mode = density_at_zero_and_mode(draws[:, j])
        if mode > 0.05 * float(np.quantile(draws[:, j], 0.95)):
            continue
        lines = []
        if centred_levels(fit) and not int(fit.idata.sample_stats["diverging"].values.sum()):
            lines.append(f"{refit_code(fit, centered=False)}  # levels non-centred: no funnel at sd = 0")
        lines.append(f"{formula_code(fit, priors='boundary')}  # a boundary-avoiding prior keeps SDs off zero")
        dropped = without_term(fit.design.spec, group, term)
        if dropped is not None:
            lines.append(f"{formula_code(fit, formula=dropped)}  # or drop the term: its variance is about 0")
        found.append(Cause(f"{naming.canonical(naming.sd(group, term))} piles up at zero (posterior mode {mode:.2g}): "
                           "the sampler funnels into the boundary", "\n".join(lines)))
    return found


def centred_levels(fit) -> int:
    """How many levels the fit sampled centred (the model's choice, ``bayesmm.plan.centring``)."""
    return int(fit.idata.posterior.attrs.get("centered_levels", 0))


def _centred_funnel(fit, group: str) -> list[Cause]:
    """Divergences while levels were sampled centred: the funnel between the SDs and the levels."""
    divergent = int(fit.idata.sample_stats["diverging"].values.sum())
    if not divergent or not centred_levels(fit):
        return []
    return [Cause(f"{divergent} divergences with {centred_levels(fit)} levels sampled centred: a funnel between "
                  f"the SDs of {group} and its levels", f"{refit_code(fit, centered=False)}  # levels non-centred")]


def _draws_matrix(fit) -> tuple[np.ndarray, pd.DataFrame, list]:
    """Draws of every tidy() parameter (rows: draws), positive ones on the log scale, the table and the
    parameters' :class:`~bayesmm.naming.Name`."""
    from ..posterior import parameter_names, parameter_table

    def compute():
        values = parameter_table(fit.idata, fit.design, fit.family).values
        flat = values.reshape(-1, values.shape[-1])
        positive = np.all(flat > 0, axis=0)
        return np.where(positive, np.log(np.where(flat > 0, flat, 1.0)), flat)

    return fit.memo("ridge_draws", compute), fit.tidy(), parameter_names(fit.idata, fit.design, fit.family)


def _ridge(fit, row) -> list[Cause]:
    """The parameter most correlated with this one (fixed effects, SDs, family parameters), when
    |correlation| > 0.9 (rank correlation over all draws)."""
    from scipy import stats

    draws, table, names = _draws_matrix(fit)
    index = int(row.Index)
    candidates = [j for j in range(len(table)) if j != index and names[j].kind != "cor"]
    if not candidates or np.ptp(draws[:, index]) == 0:
        return []
    with np.errstate(all="ignore"):
        rho = np.array([stats.spearmanr(draws[:, index], draws[:, j]).statistic for j in candidates])
    if not np.isfinite(rho).any() or np.nanmax(np.abs(rho)) <= RIDGE_CORRELATION:
        return []
    best = int(np.nanargmax(np.abs(rho)))
    partner = table.iloc[candidates[best]]
    text = (f"a ridge with {naming.canonical(names[candidates[best]])} (posterior correlation {rho[best]:+.2f}): "
            "NUTS crawls along it")
    return [Cause(text, _ridge_code(fit, table.iloc[index], partner, names[index], names[candidates[best]]))]


def _numeric_uncentred(fit, names) -> list[str]:
    """The data's numeric columns among ``names`` whose mean is further from 0 than their SD."""
    data = fit.data
    out = []
    for name in names:
        if data is None or name not in getattr(data, "columns", ()):
            continue
        column = np.asarray(data[name])
        if np.issubdtype(column.dtype, np.number) and abs(np.nanmean(column)) > np.nanstd(column):
            out.append(name)
    return list(dict.fromkeys(out))


def _ridge_code(fit, row: pd.Series, partner: pd.Series, row_name, partner_name) -> str:
    """Fixed effects: scale() the uncentred covariates, or drop a collinear one; an SD: a stronger prior on
    it; otherwise smaller steps and longer warmup."""
    if row["effect"] == "fixed" and partner["effect"] == "fixed":
        names = [*str(row["term"]).split(":"), *str(partner["term"]).split(":")]
        columns = _numeric_uncentred(fit, names)
        if columns:
            return (f"{formula_code(fit, formula=with_scaled(fit.design.spec, columns))}  # centre and scale "
                    f"{', '.join(columns)}: the other coefficients then refer to its mean")
        if partner["term"] in getattr(fit.data, "columns", ()):
            spec = fit.design.spec
            dropped = str(dataclasses.replace(spec, fixed_terms=(*spec.fixed_terms, f"- {partner['term']}")))
            return f"{formula_code(fit, formula=dropped)}  # collinear covariates: drop one (or combine them)"
    sd_name = (row_name if row["effect"] == "ran_pars" else partner_name if partner["effect"] == "ran_pars"
               else None)
    if sd_name is not None and sd_name.kind == "sd":
        stronger = _stronger_sd_prior(fit, sd_name.group, sd_name.term)
        if stronger is not None:
            return (f"{formula_code(fit, priors=prior_text('sd', sd_name.group, sd_name.term, stronger))}  # a "
                    f"stronger prior on {naming.canonical(sd_name)} cuts the ridge")
    target = 0.95 if fit.settings.target_accept < 0.95 else 0.99
    return (f"{refit_code(fit, target_accept=target, warmup=max(2000, 2 * fit.settings.warmup))}  # or "
            "reparameterise: a more informative prior on one of the two")
