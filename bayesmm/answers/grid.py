"""Fit + specs -> the reference grid of marginal means (emmeans' ``ref_grid``, Lenth 2016, *J. Stat. Softw.*
69(1)).

The grid crosses every level of every factor of the model (the fixed part, the family-parameter formulas and
the random terms' left sides; a numeric column used as ``C(x)`` is a factor) with each numeric predictor at its
mean over the training rows, or at the values ``at`` gives. Its rows are grouped into *cells*, one per
combination of the ``specs``, ``by`` and ``at`` columns (emmeans' order: the first column varies fastest);
within a cell the other factors' combinations are averaged with equal weights (``weights="equal"``, emmeans'
default) or in proportion to their frequencies in the training rows (``weights="proportional"``; frequency
weights count as rows). The weights are the same in every cell.
"""
from __future__ import annotations

import itertools
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import naming
from ..errors import BayesMMError, BayesMMWarning, closest
from ..formula import expression_variables
from .predict import require_rows, training_frame

__all__ = ["ModelVariables", "Grid", "model_variables", "reference_grid", "as_names", "check_factors",
           "check_numeric_variable", "cell_labels", "product_frame", "check_scale", "check_re", "WEIGHTS",
           "SCALES"]

WEIGHTS = ("equal", "proportional")
SCALES = ("response", "link")
#: a grid larger than this is refused (name fewer factors, or fewer at= values)
MAX_GRID_ROWS = 200_000


@dataclass(frozen=True)
class ModelVariables:
    """The predictors of a model: ``factors`` (name -> levels, in the design's order, as values the encoders
    take) and ``numeric`` names; ``frame`` the training rows."""

    factors: dict
    numeric: tuple[str, ...]
    frame: pd.DataFrame

    @property
    def names(self) -> list[str]:
        return [*self.factors, *self.numeric]


@dataclass(frozen=True)
class Grid:
    """``rows``: the reference grid, cell by cell (``len(cells) * len(weights)`` rows, the cell's rows
    together); ``cells``: one row per cell, with the ``specs``, ``by`` and ``at`` columns; ``weights``: the
    averaging weights of a cell's rows (sum 1); ``specs`` and ``by`` (``by`` and the ``at`` columns that are
    not specs) name the cells' columns."""

    rows: pd.DataFrame
    cells: pd.DataFrame
    weights: np.ndarray
    specs: tuple[str, ...]
    by: tuple[str, ...]


def _encoders(fit):
    design = fit.design
    yield design.fixed_encoder
    yield from design.part_encoders.values()
    yield from (b.encoder for b in design.blocks if b.encoder is not None)


def _categoric_levels(fit, columns) -> dict:
    """name -> levels of every column an encoder reads as categoric (a string column, ``C(x)``)."""
    levels = {}
    for encoder in _encoders(fit):
        for term in encoder.terms.values():
            for component in getattr(term, "components", ()):
                if getattr(component, "kind", None) != "categoric" or component.levels is None:
                    continue
                names = [component.name] if component.name in columns else expression_variables(component.name)
                for name in names:
                    if name in columns:
                        levels.setdefault(name, tuple(component.levels))
    return levels


def _predictor_names(fit) -> list[str]:
    spec, names = fit.design.spec, []
    pieces = [*spec.fixed_terms, *spec.offsets, *(t for r in spec.random for t in r.terms)]
    for part in fit.design.part_specs.values():
        pieces += list(part.fixed_terms)
    for piece in pieces:
        names += [n for n in expression_variables(piece.lstrip("- ")) if n not in names]
    return names


def model_variables(fit) -> ModelVariables:
    """The model's predictors, factors and numeric ones (cached on the fit)."""
    def compute():
        require_rows(fit, "A reference grid (the numeric predictors' means, the factors' proportions)", frame=True)
        frame = training_frame(fit)
        names = [n for n in _predictor_names(fit) if n in frame.columns]
        categoric = _categoric_levels(fit, names)
        factors, numeric = {}, []
        for name in names:
            column = frame[name]
            is_number = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            if name in categoric:
                factors[name] = categoric[name]
            elif not is_number:
                factors[name] = tuple(column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype)
                                      else sorted(column.unique()))
            else:
                numeric.append(name)
        return ModelVariables(factors, tuple(numeric), frame)

    return fit.memo("means_variables", compute)


def as_names(value, argument: str) -> list[str]:
    """A name or a list of names (``None``: none)."""
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise BayesMMError(f"{argument} must be a column name or a list of column names, not {value!r}.")
    if len(set(names)) < len(names):
        raise BayesMMError(f"{argument} names a column twice: {list(names)}.")
    return list(names)


def _check_known(fit, variables: ModelVariables, name: str, argument: str) -> None:
    if name in variables.names:
        return
    groups = [f for r in fit.design.spec.random for f in r.group_factors]
    if name in groups:
        raise BayesMMError(f"{argument}: '{name}' is a grouping factor of the random effects, not a predictor; "
                           f"for one of its levels' fitted effects use re={{'{name}': level}}.")
    raise BayesMMError(f"{argument}: '{name}' is not a predictor of the model.{closest(name, variables.names)} "
                       f"Predictors: {variables.names}.")


def check_numeric_variable(fit, variable) -> str:
    """``variable`` when it is a numeric predictor of the model (a slope's variable)."""
    variables = model_variables(fit)
    if not isinstance(variable, str):
        raise BayesMMError(f"variable must be the name of a numeric predictor, not {variable!r}.")
    _check_known(fit, variables, variable, "variable")
    if variable in variables.factors:
        raise BayesMMError(f"variable: '{variable}' is a factor (levels {list(variables.factors[variable])[:8]}); "
                           "a slope needs a numeric predictor. Compare its levels with fit.comparisons"
                           f"('{variable}') instead.")
    return variable


def check_factors(fit, names, argument: str, at=()) -> None:
    """Each of ``names`` must be a factor of the model, or a numeric predictor given values in ``at``."""
    variables = model_variables(fit)
    for name in names:
        _check_known(fit, variables, name, argument)
        if name in variables.numeric and name not in at:
            raise BayesMMError(f"{argument}: '{name}' is numeric, not a factor; give the values to condition on "
                               f"with at={{'{name}': [...]}}.")


def _check_at(fit, variables: ModelVariables, at) -> dict:
    """name -> tuple of values; a factor's values must be levels, a numeric predictor's finite numbers (outside
    the training range: a warning)."""
    if at is None:
        return {}
    if not isinstance(at, dict):
        raise BayesMMError(f"at must be a dict of column -> values (at={{'x': [0, 1, 2]}}), not {at!r}.")
    checked = {}
    for name, values in at.items():
        _check_known(fit, variables, name, "at")
        values = list(values) if isinstance(values, (list, tuple, np.ndarray, pd.Series, pd.Index)) else [values]
        if not values:
            raise BayesMMError(f"at['{name}'] is empty; give at least one value.")
        if name in variables.factors:
            levels = variables.factors[name]
            by_label = {str(level): level for level in levels}
            unknown = [v for v in values if str(v) not in by_label]
            if unknown:
                raise BayesMMError(f"at['{name}'] has value(s) {unknown} that are not levels of '{name}'. Levels: "
                                   f"{[str(v) for v in levels]}.")
            checked[name] = tuple(by_label[str(v)] for v in values)
            continue
        if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v) for v in values):
            raise BayesMMError(f"at['{name}'] must hold finite numbers ('{name}' is numeric), not {values}.")
        column = variables.frame[name]
        low, high = float(column.min()), float(column.max())
        outside = [v for v in values if not low <= v <= high]
        if outside:
            warnings.warn(f"at['{name}'] has value(s) {outside} outside the training data's range [{low:g}, "
                          f"{high:g}]: the means there extrapolate the model.", BayesMMWarning, stacklevel=4)
        checked[name] = tuple(float(v) for v in values)
    return checked


def product_frame(columns: dict) -> pd.DataFrame:
    """Every combination of ``columns`` (name -> values), the first column varying fastest (emmeans' order)."""
    names = list(columns)
    if not names:
        return pd.DataFrame(index=pd.RangeIndex(1))
    combos = itertools.product(*(columns[n] for n in reversed(names)))
    frame = pd.DataFrame([tuple(reversed(c)) for c in combos], columns=names, dtype=object)
    for name in names:  # numbers as numbers (whole numbers stay whole), the rest as given
        if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in columns[name]):
            frame[name] = pd.to_numeric(frame[name])
    return frame


def _other_weights(variables: ModelVariables, others: dict, weights: str, fit) -> np.ndarray:
    """Weights of the averaged-over factors' combinations (rows of ``product_frame(others)``)."""
    combos = product_frame(others)
    if weights == "equal" or not others:
        return np.full(len(combos), 1.0 / len(combos))
    frame = variables.frame
    counts = np.ones(len(frame)) if fit.design.weights is None else np.asarray(fit.design.weights, dtype=float)
    keys = frame[list(others)].astype(str).agg("\r".join, axis=1).to_numpy()
    totals = pd.Series(counts).groupby(keys).sum()
    wanted = combos.astype(str).agg("\r".join, axis=1)
    share = np.array([totals.get(k, 0.0) for k in wanted], dtype=float)
    return share / share.sum()


def reference_grid(fit, specs, by=None, at=None, weights: str = "equal", groups: bool = False) -> Grid:
    """The :class:`Grid` of ``specs`` within ``by`` at ``at`` (see the module docstring); ``specs`` may be
    empty (one cell per ``by``/``at`` combination). ``groups``: add the grouping factors' columns (each at a
    training row's level) so that the random terms' covariates can be encoded."""
    if weights not in WEIGHTS:
        raise BayesMMError(f"weights must be 'equal' (emmeans' default) or 'proportional' (the averaged-over "
                           f"factors' frequencies in the data), not {weights!r}.")
    variables = model_variables(fit)
    specs, by = as_names(specs, "specs"), as_names(by, "by")
    both = [n for n in specs if n in by]
    if both:
        raise BayesMMError(f"{both} appear in both specs and by; a column is either compared (specs) or a "
                           "condition (by).")
    at = _check_at(fit, variables, at)
    check_factors(fit, specs, "specs", at)
    check_factors(fit, by, "by", at)
    columns = [*specs, *by, *(n for n in at if n not in specs and n not in by)]
    cells = product_frame({n: at.get(n, variables.factors.get(n)) for n in columns})
    others = {n: levels for n, levels in variables.factors.items() if n not in columns}
    other_rows = product_frame(others)
    if len(cells) * len(other_rows) > MAX_GRID_ROWS:
        raise BayesMMError(f"The reference grid would have {len(cells) * len(other_rows)} rows (factors averaged "
                           f"over: {list(others)}); name fewer columns or fewer at= values.")
    rows = pd.concat([cells.loc[cells.index.repeat(len(other_rows))].reset_index(drop=True),
                      pd.concat([other_rows] * len(cells), ignore_index=True)], axis=1)
    for name in variables.numeric:
        if name not in columns:
            rows[name] = float(variables.frame[name].mean())
    if groups:
        for factor in dict.fromkeys(f for r in fit.design.spec.random for f in r.group_factors):
            if factor not in rows.columns:
                rows[factor] = variables.frame[factor].iloc[0] if factor in variables.frame else None
    frame_columns = [c for c in rows.columns if c in variables.frame.columns]
    weights_ = _other_weights(variables, others, weights, fit)
    return Grid(rows[frame_columns + [c for c in rows.columns if c not in frame_columns]], cells, weights_,
                tuple(specs), tuple(c for c in columns if c not in specs))


def _value_label(name: str, value) -> str:
    """A level as emmeans writes it in a contrast: a number gets its column's name (``period1``, ``age8``)."""
    text = f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)
    try:
        float(text)
    except ValueError:
        return text
    return f"{name}{text}"


def cell_labels(cells: pd.DataFrame, names) -> list[str]:
    """One label per cell from its ``names`` columns, as emmeans labels the levels in contrasts."""
    return [" ".join(_value_label(n, row[n]) for n in names) for _, row in cells.iterrows()]


# ------------------------------------------------------------------------------ arguments the answers share
def check_scale(scale) -> str:
    if scale not in SCALES:
        raise BayesMMError(f"scale must be 'response' (the expected response) or 'link' (the linear predictor), "
                           f"not {scale!r}.")
    return scale


def check_re(fit, re, allow_all: bool = False):
    """'none', 'average' (, 'all') or {group: position of the level in the posterior}."""
    modes = ("none", "average", "all") if allow_all else ("none", "average")
    if isinstance(re, str) and re in modes:
        return re
    if not isinstance(re, dict) or not re:
        raise BayesMMError(f"re must be one of {modes} or a dict naming a level per group (re={{'herd': '3'}}), "
                           f"not {re!r}.")
    post, chosen = fit.idata.posterior, {}
    groups = list(dict.fromkeys(b.group for b in fit.design.blocks if b.part == "cond"))
    for group, level in re.items():
        if group not in groups:
            raise BayesMMError(f"re names '{group}', which is not a grouping factor of the model."
                               f"{closest(str(group), groups)} Groups: {groups}.")
        levels = [str(v) for v in post[naming.variable("ranef", group)].coords[naming.level_dim(group)].values]
        if str(level) not in levels:
            raise BayesMMError(f"re: '{level}' is not a level of '{group}'.{closest(str(level), levels)} Levels: "
                               f"{levels[:20]}{' ...' if len(levels) > 20 else ''}.")
        chosen[group] = levels.index(str(level))
    return chosen
