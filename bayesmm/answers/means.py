"""Fit -> estimated marginal means, their contrasts, and average slopes: emmeans (Lenth 2016, *J. Stat.
Softw.* 69(1); Searle, Speed & Milliken 1980, "Population marginal means in the linear model", *Am. Stat.* 34)
and marginaleffects' ``avg_slopes`` (Arel-Bundock, Greifer & Heiss 2024, *J. Stat. Softw.* 111(9)), computed
per posterior draw.

* :func:`marginal_means`: on the reference grid (:mod:`bayesmm.answers.grid`), per cell and draw, the linear
  predictor is averaged over the cell's rows *on the link scale* (every linear predictor: the mean's and those of
  family parameters with their own formula), then turned into the family's mean (the inverse link, or for
  zero-inflated, hurdle and lognormal families the mean ``draw_quantities(kind="mean")`` gives; binomial means
  are probabilities, trials 1). This is emmeans' ``regrid``/``type = "response"``: for ``re="none"`` and the
  usual families the values are emmeans'. ``scale="link"`` gives the averaged linear predictor.
* Random effects, ``re=``: ``"none"`` (at zero, emmeans' default); ``{"herd": "3"}`` (the fitted effects of that
  level of each named group; other groups at zero); ``"average"`` (population-averaged: per draw, the mean
  integrated over the random effects ``N(0, Sigma_g)`` of every group). Per cell the random part of the linear
  predictor is ``sum_g z_g' b_g``, a scalar normal with variance ``v = sum_g z_g' Sigma_g z_g`` (``z_g``: the
  cell's averaged covariates of the group's terms), so the integral is one-dimensional whatever the number of
  groups and terms: Gauss-Hermite quadrature with :data:`GH_NODES` nodes (absolute error below 1e-7 for a logistic
  mean with SD up to 3, 1e-5 at SD 5; exact for ``exp`` up to rounding). On the link scale ``"average"`` is ``"none"``.
* :func:`comparisons`: contrasts of the means of the ``specs`` cells within each ``by``/``at`` cell, per draw:
  differences (of the means on ``scale``), or for ``comparison="ratio"``/``"odds_ratio"`` the contrast of log
  means / log odds, exponentiated (emmeans' ``type = "response"`` contrasts: ratios for log links, odds ratios
  for logit links, the defaults there). Labels as emmeans writes them: ``"period1 - period2"``,
  ``"Female - Male"``, ``"period1 / period2"`` for ratios.
* :func:`slopes`: the derivative of the expected response (or the linear predictor) in a numeric predictor by a
  central difference of step ``1e-4 SD(x)`` through the design's encoders (so ``scale(x)``, ``poly(x, 2)``,
  ``log(x)`` and interactions are differentiated, not read off a coefficient), averaged over the training rows
  (frequency weights count) within ``by`` groups, or at the reference grid ``at`` gives (other factors averaged
  with equal weights: the slope of the marginal mean).

Summaries: ``estimate`` the posterior mean, ``std_error`` the posterior SD, ``conf_low``/``conf_high`` the
equal-tailed ``prob`` interval; ``pd`` the probability of direction (share of draws on the median's side of 0, of
1 for ratios; bayestestR). No simulation is involved: ``seed`` is accepted for the uniform signature of answers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import naming
from ..errors import BayesMMError
from .arguments import check_prob, draw_index
from .evidence import AnswerTable
from .grid import (as_names, cell_labels, check_factors, check_numeric_variable, check_re, check_scale,
                   model_variables, product_frame, reference_grid)
from .predict import PredictionDesign, family_parameters, prediction_design
from .probabilities import check_categorical_kind

__all__ = ["marginal_means", "comparisons", "slopes", "COMPARISONS", "CONTRASTS", "GH_NODES"]

COMPARISONS = ("difference", "ratio", "odds_ratio")
CONTRASTS = ("pairwise", "revpairwise", "trt.vs.ctrl")
GH_NODES = 64
#: draws x rows x nodes values per piece of a slope over the training rows
_CHUNK_VALUES = 4_000_000


# --------------------------------------------------------------------------------- expected responses
def _flat(fit, name: str, index: np.ndarray) -> np.ndarray:
    values = fit.idata.posterior[name].values
    return values.reshape((-1,) + values.shape[2:])[index]


@dataclass(frozen=True)
class _Rows:
    """Design rows: fixed part ``X``, ``offset``, family-parameter formulas' ``parts``, per group the terms'
    covariates ``Z`` and each row's level index ``levels``."""

    X: np.ndarray
    offset: np.ndarray | None
    parts: dict
    Z: dict
    levels: dict


def _design_rows(fit, frame: pd.DataFrame, re) -> _Rows:
    design = prediction_design(fit, frame, re="none" if re == "none" else "all", need_trials=False)
    return _Rows(design.X, design.offset, dict(design.parts), {g: v[1] for g, v in design.groups.items()},
                 {g: v[0] for g, v in design.groups.items()})


def _averaged(rows: _Rows, weights: np.ndarray) -> _Rows:
    """Each cell's rows (consecutive, ``len(weights)`` per cell) averaged with ``weights``: the linear
    predictors are linear in these, so this averages them on the link scale."""
    def mean(values):
        if values is None:
            return None
        shaped = values.reshape((-1, len(weights)) + values.shape[1:])
        return np.tensordot(weights, shaped, axes=([0], [1]))

    return _Rows(mean(rows.X), mean(rows.offset), {k: mean(v) for k, v in rows.parts.items()},
                 {k: mean(v) for k, v in rows.Z.items()}, {})


def _family_mean(fit, eta: np.ndarray, aux: dict) -> np.ndarray:
    from ..model.simulate import response_quantity

    trials = np.ones(eta.shape[1]) if fit.family.response == "binomial" else None
    return response_quantity(fit.family.name, fit.family.link, eta, aux, trials, "mean")


def _re_variance(fit, group: str, Z: np.ndarray, index) -> np.ndarray:
    """draws x rows: the variance of ``Z b`` for ``b ~ N(0, Sigma)`` of the group."""
    sd = _flat(fit, naming.variable("sd", group), index)
    cor_name = naming.variable("cor", group)
    if cor_name not in fit.idata.posterior:
        return (sd ** 2) @ (Z ** 2).T
    cov = sd[:, :, None] * _flat(fit, cor_name, index) * sd[:, None, :]
    return np.einsum("rj,sjk,rk->sr", Z, cov, Z)


def _expected(fit, rows: _Rows, index, re, scale: str) -> np.ndarray:
    """draws x rows: the linear predictor (``scale="link"``) or the expected response under ``re``."""
    check_categorical_kind(fit, "Marginal means, comparisons and slopes")
    fixed = _flat(fit, naming.variable("fixed"), index)
    eta = fixed[:, fixed.shape[1] - rows.X.shape[1]:] @ rows.X.T  # an ordinal fit's thresholds come first, not in X
    if rows.offset is not None:
        eta = eta + rows.offset
    if isinstance(re, dict):
        for group, position in re.items():
            eta = eta + _flat(fit, naming.variable("ranef", group), index)[:, position, :] @ rows.Z[group].T
    elif re == "all":
        for group, Z in rows.Z.items():
            effects = _flat(fit, naming.variable("ranef", group), index)
            for j in range(Z.shape[1]):
                eta = eta + effects[:, rows.levels[group], j] * Z[:, j]
    if scale == "link":
        return eta
    labels = pd.RangeIndex(rows.X.shape[0])
    aux = family_parameters(fit, PredictionDesign(rows.X, rows.offset, None, {}, rows.parts, labels), index)
    if re != "average" or not rows.Z:
        return _family_mean(fit, eta, aux)
    sd = np.sqrt(sum(_re_variance(fit, group, Z, index) for group, Z in rows.Z.items()))
    nodes, node_weights = np.polynomial.hermite_e.hermegauss(GH_NODES)
    shifted = eta[..., None] + sd[..., None] * nodes
    aux = {k: (np.repeat(v, GH_NODES, axis=1) if np.ndim(v) == 2 and k != "thresholds" else v) for k, v in aux.items()}
    means = _family_mean(fit, shifted.reshape(len(index), -1), aux).reshape(shifted.shape)
    return means @ (node_weights / node_weights.sum())


def _summary(values: np.ndarray, prob: float) -> dict:
    tail = (1 - prob) / 2
    low, high = np.quantile(values, [tail, 1 - tail], axis=0)
    return {"estimate": values.mean(axis=0), "std_error": values.std(axis=0, ddof=1), "conf_low": low,
            "conf_high": high}


def _table(columns: pd.DataFrame, values: np.ndarray, prob: float, extra: dict | None = None) -> AnswerTable:
    table = pd.concat([columns.reset_index(drop=True), pd.DataFrame({**_summary(values, prob), **(extra or {})})],
                      axis=1)
    return AnswerTable(table)


def _draws_frame(columns: pd.DataFrame, values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(values, columns=pd.MultiIndex.from_frame(columns.reset_index(drop=True))).rename_axis(
        index="draw")


def _mean_draws(fit, specs, by, at, scale, re, weights, draws):
    scale = check_scale(scale)
    re = check_re(fit, re)
    grid = reference_grid(fit, specs, by, at, weights, groups=re != "none")
    index = draw_index(fit, draws)
    cells = _averaged(_design_rows(fit, grid.rows, re), grid.weights)
    return grid, _expected(fit, cells, index, re, scale)


# ------------------------------------------------------------------------------------------ public
def marginal_means(fit, specs, by=None, at=None, scale: str = "response", re="none", weights: str = "equal",
                   prob: float = 0.95, summary: bool = True, draws=None, seed: int = 0) -> pd.DataFrame:
    """Estimated marginal means of ``specs`` (emmeans' ``emmeans(m, ~ specs | by, at =, weights =)``; see the
    module docstring): one row per cell with its columns, ``estimate``, ``std_error``, ``conf_low``,
    ``conf_high``; ``summary=False``: the draws (rows) per cell (columns, a MultiIndex of the cell's values).

    ``fit.means("period")``; ``fit.means("Sex", at={"age": [8, 14]})``; ``fit.means("age", by="Sex")``.
    """
    if not as_names(specs, "specs"):
        raise BayesMMError("specs must name at least one predictor (a factor, or a numeric one with at= values).")
    prob = check_prob(prob)
    grid, values = _mean_draws(fit, specs, by, at, scale, re, weights, draws)
    return _table(grid.cells, values, prob) if summary else _draws_frame(grid.cells, values)


def _comparison(fit, comparison, scale: str) -> str:
    if comparison is None:
        if scale == "response" and fit.family.link == "logit" and fit.family.response != "ordinal":
            return "odds_ratio"
        return "ratio" if scale == "response" and fit.family.link == "log" else "difference"
    if comparison not in COMPARISONS:
        raise BayesMMError(f"comparison must be one of {COMPARISONS} (or None for the scale's natural one), not "
                           f"{comparison!r}.")
    if comparison != "difference" and scale == "link":
        raise BayesMMError(f"comparison='{comparison}' compares means on the response scale; with scale='link' "
                           "use 'difference' (a difference of log odds is the log odds ratio).")
    return comparison


def _transformed(values: np.ndarray, comparison: str) -> np.ndarray:
    if comparison == "difference":
        return values
    if comparison == "ratio":
        if np.any(values <= 0):
            raise BayesMMError("comparison='ratio' needs positive means; some draws are not. Use 'difference'.")
        return np.log(values)
    if np.any((values <= 0) | (values >= 1)):
        raise BayesMMError("comparison='odds_ratio' needs means that are probabilities (strictly between 0 and "
                           "1), as a binomial or bernoulli model's; use 'difference' or 'ratio'.")
    return np.log(values) - np.log1p(-values)


def _reference(labels, raw, ref) -> int:
    if ref is None:
        return 0
    for names in (labels, raw):
        if str(ref) in names:
            return names.index(str(ref))
    raise BayesMMError(f"ref='{ref}' is not one of the levels compared: {raw}.")


def _contrast_matrix(labels, raw, contrast, ref, sep: str):
    """(contrast names, weights: contrasts x levels)."""
    n = len(labels)
    if ref is not None and contrast != "trt.vs.ctrl":
        raise BayesMMError("ref= names the control of contrast='trt.vs.ctrl'; it has no use with "
                           f"contrast={contrast!r}.")
    if isinstance(contrast, dict):
        if not contrast:
            raise BayesMMError("contrast is an empty dict; give {'label': [one weight per level]}.")
        rows = []
        for name, weights in contrast.items():
            weights = np.asarray(weights, dtype=float) if np.ndim(weights) == 1 else None
            if weights is None or weights.shape != (n,) or not np.all(np.isfinite(weights)):
                raise BayesMMError(f"Contrast '{name}' needs {n} finite weights, one per level in this order: "
                                   f"{raw}; it has {contrast[name]!r}.")
            rows.append(weights)
        return list(contrast), np.array(rows)
    if contrast not in CONTRASTS:
        raise BayesMMError(f"contrast must be one of {CONTRASTS} or a dict {{'label': [weights per level]}}, "
                           f"not {contrast!r}.")
    if n < 2:
        raise BayesMMError(f"contrast='{contrast}' needs at least two levels to compare; there is one ({raw}).")
    if contrast == "pairwise":
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    elif contrast == "revpairwise":
        pairs = [(j, i) for j in range(1, n) for i in range(j)]
    else:
        control = _reference(labels, raw, ref)
        pairs = [(i, control) for i in range(n) if i != control]
    weights = np.zeros((len(pairs), n))
    for k, (i, j) in enumerate(pairs):
        weights[k, i], weights[k, j] = 1.0, -1.0
    return [f"{labels[i]}{sep}{labels[j]}" for i, j in pairs], weights


def _rope_bounds(rope, ratio: bool) -> tuple[float, float]:
    if isinstance(rope, (int, float)) and not isinstance(rope, bool) and rope > 0:
        return (float(np.exp(-rope)), float(np.exp(rope))) if ratio else (-float(rope), float(rope))
    if isinstance(rope, (tuple, list)) and len(rope) == 2 and all(np.isfinite(v) for v in rope) and rope[0] < rope[1]:
        return float(rope[0]), float(rope[1])
    raise BayesMMError(f"rope must be a positive half-width (0.1; for ratios on the log scale) or a (low, high) "
                       f"pair with low < high, not {rope!r}.")


def comparisons(fit, specs, by=None, at=None, contrast="pairwise", comparison=None, scale: str = "response",
                re="none", weights: str = "equal", prob: float = 0.95, rope=None, summary: bool = True,
                draws=None, seed: int = 0, ref=None) -> pd.DataFrame:
    """Contrasts of the marginal means of ``specs`` within each ``by``/``at`` cell (emmeans' ``pairs``,
    ``contrast(..., "revpairwise" | "trt.vs.ctrl")`` or custom weights; see the module docstring). Columns:
    ``contrast``, the by columns, ``estimate``, ``std_error``, ``conf_low``, ``conf_high``, ``pd`` and with
    ``rope=`` the share of draws inside it. ``ref``: the control of ``"trt.vs.ctrl"`` (default: the first level).
    """
    prob = check_prob(prob)
    grid, values = _mean_draws(fit, specs, by, at, scale, re, weights, draws)
    if not grid.specs:
        raise BayesMMError("specs must name the factor(s) whose levels are compared.")
    kind = _comparison(fit, comparison, scale)
    n_levels = len(grid.cells.drop_duplicates(list(grid.specs)))  # the specs vary fastest: one block per by cell
    first = grid.cells.iloc[:n_levels]
    labels = cell_labels(first, grid.specs)
    raw = [" ".join(str(row[n]) for n in grid.specs) for _, row in first.iterrows()]
    names, matrix = _contrast_matrix(labels, raw, contrast, ref, " - " if kind == "difference" else " / ")
    transformed = _transformed(values, kind)
    blocks, columns = [], []
    for start in range(0, len(grid.cells), n_levels):
        blocks.append(transformed[:, start:start + n_levels] @ matrix.T)
        by_values = grid.cells.iloc[[start] * len(names)][list(grid.by)].reset_index(drop=True)
        columns.append(pd.concat([pd.DataFrame({"contrast": names}), by_values], axis=1))
    result = np.concatenate(blocks, axis=1)
    null = 0.0
    if kind != "difference":
        result, null = np.exp(result), 1.0
    columns = pd.concat(columns, ignore_index=True)
    if not summary:
        return _draws_frame(columns, result)
    extra = {"pd": np.maximum(np.mean(result > null, axis=0), np.mean(result < null, axis=0))}
    if rope is not None:
        low, high = _rope_bounds(rope, kind != "difference")
        extra["rope"] = np.mean((result >= low) & (result <= high), axis=0)
    return _table(columns, result, prob, extra)


def _row_slopes(fit, frame, variable, step, index, re, scale):
    """draws x rows: central differences of the expected response at the rows of ``frame``."""
    shifted = []
    for sign in (0.5, -0.5):
        moved = frame.copy()
        moved[variable] = moved[variable].astype(float) + sign * step
        shifted.append(_expected(fit, _design_rows(fit, moved, re), index, re, scale))
    return (shifted[0] - shifted[1]) / step


def _training_slopes(fit, variable, by, step, index, re, scale):
    """(group columns, draws x groups): the rows' slopes averaged within the ``by`` groups (observed ones)."""
    variables = model_variables(fit)
    frame, by = variables.frame, as_names(by, "by")
    check_factors(fit, by, "by")
    groups = product_frame({n: variables.factors[n] for n in by})
    keys = frame[by].astype(str).agg("\r".join, axis=1).to_numpy() if by else np.zeros(len(frame), dtype=str)
    wanted = groups.astype(str).agg("\r".join, axis=1).to_numpy() if by else np.zeros(1, dtype=str)
    member = (keys[:, None] == wanted[None, :]).astype(float)
    if fit.design.weights is not None:
        member *= np.asarray(fit.design.weights, dtype=float)[:, None]
    seen = member.sum(axis=0) > 0
    member, groups = member[:, seen] / member[:, seen].sum(axis=0), groups[seen].reset_index(drop=True)
    nodes = GH_NODES if re == "average" else 1
    chunk = max(1, _CHUNK_VALUES // (len(index) * nodes))
    total = np.zeros((len(index), member.shape[1]))
    for start in range(0, len(frame), chunk):
        piece = frame.iloc[start:start + chunk]
        total += _row_slopes(fit, piece, variable, step, index, re, scale) @ member[start:start + chunk]
    return groups, total


def slopes(fit, variable: str, by=None, at=None, scale: str = "response", re="none", prob: float = 0.95,
           summary: bool = True, draws=None, seed: int = 0) -> pd.DataFrame:
    """The average derivative of the expected response (``scale="link"``: the linear predictor) in the numeric
    predictor ``variable`` (marginaleffects' ``avg_slopes(m, variables =, by =)``): over the training rows within
    ``by`` groups, or at the reference grid ``at`` gives, within ``by`` (see the module docstring). ``re``:
    ``"none"``, ``"average"``, ``{group: level}``, or (training rows only) ``"all"``, each row's own fitted
    effects. Columns: ``term``, the by/at columns, ``estimate``, ``std_error``, ``conf_low``, ``conf_high``."""
    prob = check_prob(prob)
    variable = check_numeric_variable(fit, variable)
    scale = check_scale(scale)
    re = check_re(fit, re, allow_all=at is None)
    index = draw_index(fit, draws)
    step = 1e-4 * float(model_variables(fit).frame[variable].std())
    if not np.isfinite(step) or step <= 0:
        raise BayesMMError(f"'{variable}' takes a single value in the training data; it has no slope to estimate.")
    if at is None:
        columns, values = _training_slopes(fit, variable, by, step, index, re, scale)
    else:
        grid = reference_grid(fit, [], by, at, "equal", groups=re != "none")
        shifted = []
        for sign in (0.5, -0.5):
            rows = grid.rows.copy()
            rows[variable] = rows[variable].astype(float) + sign * step
            shifted.append(_expected(fit, _averaged(_design_rows(fit, rows, re), grid.weights), index, re, scale))
        columns, values = grid.cells, (shifted[0] - shifted[1]) / step
    columns = pd.concat([pd.DataFrame({"term": [variable] * len(columns)}), columns.reset_index(drop=True)], axis=1)
    return _table(columns, values, prob) if summary else _draws_frame(columns, values)
