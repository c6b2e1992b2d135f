"""Conditional effects: the expected response (or linear predictor) over one predictor, optionally by a
second one, with the other predictors held fixed (brms's ``conditional_effects``).

The grid follows brms: a numeric ``effect`` runs over ``resolution`` evenly spaced values of its observed
range, a factor over its levels; a factor ``by`` gives one curve per level, a numeric ``by`` one curve at
its mean and at the mean plus and minus one SD (brms's default for numeric-by-numeric interactions); every
other predictor is held at its mean (numeric) or its reference (first) level. ``at={"x": value}`` fixes a
held predictor, ``at={"effect or by": [values]}`` chooses the effect's or the curves' values. Predictions
come from :func:`bayesmm.answers.predict.predict_table` (population level by default, ``re="none"``), so
every family with a mean works: for binomial models the trials are 1 and the mean is the success
probability; zero-inflated and hurdle means include the zeros.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ..errors import BayesMMError, closest
from ..formula import expression_variables
from .arguments import check_prob
from .predict import predict_table, training_frame

__all__ = ["effects_table", "effect_grid", "plot_effects", "effect_predictors"]

KINDS = ("mean", "link")
ESTIMATES = ["estimate", "std_error", "conf_low", "conf_high"]


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _levels(column: pd.Series) -> list:
    if isinstance(column.dtype, pd.CategoricalDtype):
        return list(column.cat.categories)
    return sorted(column.dropna().unique().tolist())


def effect_predictors(fit) -> list[str]:
    """The data columns the fixed part reads (and the formulas of family parameters, e.g. ``zi``), in order."""
    terms = list(fit.design.spec.fixed_terms)
    for part in fit.design.part_specs.values():
        terms += list(part.fixed_terms)
    return list(dict.fromkeys(v for t in terms for v in expression_variables(t.lstrip("- "))))


def _check_predictor(name, predictors: list[str], argument: str) -> str:
    if not isinstance(name, str) or name not in predictors:
        hint = closest(name, predictors) if isinstance(name, str) else ""
        raise BayesMMError(f"{argument}={name!r} is not a predictor of the fixed part.{hint} Valid: {predictors}.")
    return name


def _check_options(effect, by, at, resolution, predictors: list[str], columns: list[str]) -> dict:
    _check_predictor(effect, predictors, "effect")
    if by is not None:
        _check_predictor(by, predictors, "by")
        if by == effect:
            raise BayesMMError(f"by={by!r} is the effect itself; choose another predictor for by (or leave it out).")
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) or resolution < 2:
        raise BayesMMError(f"resolution must be a whole number of grid points, at least 2, not {resolution!r}.")
    if at is None:
        return {}
    if not isinstance(at, dict):
        raise BayesMMError(f"at must be a dict of column -> value(s), e.g. {{'{effect}': [..]}}, not {at!r}.")
    for name in at:
        if name not in columns:
            raise BayesMMError(f"at names '{name}', which is not a predictor of the model.{closest(name, columns)} "
                               f"Valid: {columns}.")
    return dict(at)


def _as_values(name: str, value) -> list:
    values = list(value) if isinstance(value, (list, tuple, np.ndarray, pd.Series, pd.Index)) else [value]
    if not values:
        raise BayesMMError(f"at['{name}'] is empty; give at least one value.")
    return values


def _checked_values(name: str, column: pd.Series, values: list) -> list:
    """``values`` when they fit the column: finite numbers for a numeric one, known levels for a factor."""
    if _is_number(column):
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v)]
        if bad:
            raise BayesMMError(f"at['{name}'] must hold finite numbers ('{name}' is numeric), not {bad}.")
        return [float(v) for v in values]
    levels = _levels(column)
    unknown = [v for v in values if v not in levels]
    if unknown:
        hint = closest(unknown[0], levels)
        raise BayesMMError(f"at['{name}'] has level(s) {unknown} that '{name}' does not have.{hint} Levels: {levels}.")
    return values


def _effect_values(name: str, column: pd.Series, at: dict, resolution: int) -> list:
    if name in at:
        values = _checked_values(name, column, _as_values(name, at[name]))
        return sorted(values) if _is_number(column) else values
    if _is_number(column):
        return list(np.linspace(column.min(), column.max(), int(resolution)))
    return _levels(column)


def _by_values(name: str, column: pd.Series, at: dict) -> list:
    if name in at:
        return _checked_values(name, column, _as_values(name, at[name]))
    if _is_number(column):
        mean, sd = column.mean(), column.std()
        return [mean - sd, mean, mean + sd]
    return _levels(column)


def _held_value(name: str, column: pd.Series, at: dict):
    if name in at:
        values = _checked_values(name, column, _as_values(name, at[name]))
        if len(values) > 1:
            raise BayesMMError(f"at['{name}'] holds {len(values)} values, but a predictor other than the effect and "
                               f"by is held at one value; to see several, pass by='{name}'.")
        return values[0]
    return column.mean() if _is_number(column) else _levels(column)[0]


def effect_grid(fit, effect: str, by=None, at=None, resolution: int = 100, re="none") -> pd.DataFrame:
    """The prediction grid: ``effect``'s values (within each value of ``by``) with every other column the
    model reads held at ``at``'s value, its mean (numeric) or its reference level; grouping factors only
    where the predictions use random effects (``re`` other than ``"none"``) or ``at`` names them."""
    frame = training_frame(fit)
    spec = fit.design.spec
    response = {v for e in spec.response.exprs for v in expression_variables(e)}
    columns = [c for c in frame.columns if c not in response]
    at = _check_options(effect, by, at, resolution, effect_predictors(fit), columns)
    if isinstance(re, str) and re == "none":
        grouping = {f for term in spec.random for f in term.group_factors} - set(effect_predictors(fit))
        columns = [c for c in columns if c not in grouping or c in at]
    effect_values = _effect_values(effect, frame[effect], at, resolution)
    by_values = [None] if by is None else _by_values(by, frame[by], at)
    grid = pd.DataFrame({effect: effect_values * len(by_values)})
    if by is not None:
        grid[by] = np.repeat(np.array(by_values, dtype=object), len(effect_values)).tolist()
        if _is_number(frame[by]):
            grid[by] = grid[by].astype(float)
    for name in columns:
        if name not in (effect, by):
            grid[name] = [_held_value(name, frame[name], at)] * len(grid)
    return grid


def effects_table(fit, effect: str, by=None, at=None, prob: float = 0.95, re="none", resolution: int = 100,
                  kind: str = "mean") -> pd.DataFrame:
    """The table behind :func:`plot_effects`: the grid's columns (see :func:`effect_grid`) and, per row, the
    posterior mean, SD and equal-tailed ``prob`` interval of the expected response (``kind="mean"``; for
    binomial models the success probability) or of the linear predictor (``kind="link"``).

    Random effects: ``re`` as in :func:`bayesmm.answers.predict.predict_table` (``"none"``: population level,
    brms's ``re_formula = NA``; ``"all"``; or a list of groups); with random effects, grouping factors are
    held at their first level unless ``at`` names one (``at={"Subject": "M01"}``: that subject's curve).
    """
    prob = check_prob(prob)
    if kind not in KINDS:
        raise BayesMMError(f"kind must be 'mean' (the expected response) or 'link' (the linear predictor), "
                           f"not {kind!r}.")
    grid = effect_grid(fit, effect, by, at, resolution, re)
    trials = 1 if kind == "mean" and fit.family.response == "binomial" else None
    table = predict_table(fit, grid, kind=kind, re=re, new_levels="population", prob=prob, trials=trials)
    out = grid.copy()
    for k, name in enumerate(ESTIMATES):
        out[name] = table.iloc[:, k].to_numpy(dtype=float)
    return out


def _response_label(fit, kind: str) -> str:
    name = fit.design.response_name
    if kind == "link":
        return f"{name} (linear predictor, {fit.family.link} link)"
    if fit.family.response == "binomial":
        return "P(success)"
    if fit.family.response == "binary":
        return f"P({name} = 1)"
    return f"{name} (expected)"


def _label(value) -> str:
    """A curve's legend label: a level as written, a number rounded to 2 decimals (as brms)."""
    if isinstance(value, (float, np.floating)):
        return f"{round(float(value), 2):g}"
    return str(value)


def _curves(table: pd.DataFrame, by):
    if by is None:
        return [(None, table)]
    return [(_label(value), rows) for value, rows in table.groupby(by, sort=False)]


def _draw_lines(ax, table: pd.DataFrame, effect: str, by) -> None:
    curves = _curves(table, by)
    for k, (label, rows) in enumerate(curves):
        x = rows[effect].to_numpy(dtype=float)
        ax.plot(x, rows["estimate"], color=f"C{k}", label=label)
        ax.fill_between(x, rows["conf_low"], rows["conf_high"], color=f"C{k}", alpha=0.3 if by is None else 0.2)


def _draw_dodged(ax, table: pd.DataFrame, effect: str, by) -> list:
    """Points with intervals at each level, side by side per curve; returns the levels in axis order."""
    levels = list(dict.fromkeys(table[effect]))
    curves = _curves(table, by)
    width = 0.5 if len(curves) > 1 else 0.0
    for k, (label, rows) in enumerate(curves):
        shift = (k / (len(curves) - 1) - 0.5) * width if len(curves) > 1 else 0.0
        position = np.array([levels.index(v) for v in rows[effect]]) + shift
        estimate, low, high = (rows[c].to_numpy(dtype=float) for c in ("estimate", "conf_low", "conf_high"))
        ax.errorbar(position, estimate, yerr=[estimate - low, high - estimate], fmt="o", color=f"C{k}", capsize=3,
                    label=label)
    ax.set_xticks(np.arange(len(levels)))
    ax.set_xticklabels([str(v) for v in levels])
    return levels


def _observed(fit) -> np.ndarray:
    """The response as the curves show it: a binomial's proportion of successes, else the response."""
    y = np.asarray(fit.design.y, dtype=float)
    if fit.design.trials is not None:
        trials = np.asarray(fit.design.trials, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.where(trials > 0, y / trials, np.nan)
    return y


def _draw_points(ax, fit, table: pd.DataFrame, effect: str, by, levels) -> None:
    """The data over the curves: a numeric effect at its values, a factor's rows jittered around their level;
    coloured by ``by``'s plotted levels when ``by`` is a factor."""
    frame = training_frame(fit)
    y = _observed(fit)
    if levels is None:
        x = frame[effect].to_numpy(dtype=float)
    else:
        position = {v: k for k, v in enumerate(levels)}
        x = np.array([position.get(v, np.nan) for v in frame[effect]], dtype=float)
        x = x + np.random.default_rng(0).uniform(-0.2, 0.2, len(x))
    colours = np.array(["0.4"] * len(x), dtype=object)
    if by is not None and not _is_number(frame[by]):
        for k, value in enumerate(dict.fromkeys(table[by])):
            colours[(frame[by] == value).to_numpy()] = f"C{k}"
    keep = np.isfinite(x) & np.isfinite(y)
    ax.scatter(x[keep], y[keep], s=10, c=list(colours[keep]), alpha=0.5, linewidths=0, zorder=0)


def plot_effects(fit, effect: str, by=None, at=None, prob: float = 0.95, re="none", resolution: int = 100,
                 points: bool = False, kind: str = "mean", ax=None):
    """Conditional effect of ``effect`` (brms's ``conditional_effects``): a line with its ``prob`` band for a
    numeric effect, points with intervals for a factor; one colour per level of ``by`` (a factor) or per
    value of ``by`` (numeric: mean and mean +/- 1 SD unless ``at`` gives them), the legend titled ``by``.
    ``points=True`` overlays the data (a binomial's proportion of successes; factors jittered); rows whose
    effect level is not plotted (``at`` chose a subset) are left out. The table is :func:`effects_table`'s.
    Returns the figure (of ``ax`` when given)."""
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if not isinstance(points, bool):
        raise BayesMMError(f"points must be True (overlay the data) or False, not {points!r}.")
    if ax is not None and not isinstance(ax, Axes):
        raise BayesMMError(f"ax must be a matplotlib Axes to draw into (or None for a new figure), not {ax!r}.")
    if points and kind == "link" and fit.family.link != "identity":
        raise BayesMMError(f"points=True shows the data on the response scale, but kind='link' draws the "
                           f"{fit.family.link} link's scale; use kind='mean' to overlay the data.")
    table = effects_table(fit, effect, by, at, prob, re, resolution, kind)
    created = ax is None
    if created:
        _, ax = plt.subplots(figsize=(6, 4))
    levels = None
    if _is_number(table[effect]):
        _draw_lines(ax, table, effect, by)
    else:
        levels = _draw_dodged(ax, table, effect, by)
    if points:
        _draw_points(ax, fit, table, effect, by, levels)
    if by is not None:
        ax.legend(title=by)
    ax.set_xlabel(effect)
    ax.set_ylabel(_response_label(fit, kind))
    if created:
        ax.figure.tight_layout()
    return ax.figure
