"""Fit + (new) data -> per-draw linear predictors, expected responses and response draws.

The design of new data is rebuilt with the training data's encodings: the fixed part through the
:class:`~bayesmm.design.Design`'s ``fixed_encoder`` (formulae's stateful transforms, so ``scale(x)``,
``center(x)`` and ``poly(x)`` use the training data's means and SDs, and factors the training levels), the
random-effect covariates and family-parameter formulas through encoders rebuilt once on the training rows.
Grouping levels are matched by name; a level the fit has not seen is handled by ``new_levels``:

* ``"sample"``: per posterior draw, its effects are drawn from the fitted random-effect distribution
  ``N(0, diag(sd) R diag(sd))`` (brms's ``sample_new_levels = "uncertainty"``), seeded;
* ``"population"``: its effects are 0 (the population-level prediction for that row);
* ``"error"``: refuse, listing the new levels.

``re="none"`` leaves every random effect out (brms's ``re_formula = NA``; lme4's ``re.form = NA``); a list of
groups (``re=["Subject"]``, or one group as a string) keeps those groups' effects and leaves the others out (brms's
``re_formula = ~ (1 | Subject)``); newdata then needs no columns of the groups left out.

Random effects in a family parameter's formula (``zi="~ (1 | site)"``) enter that parameter's linear predictor
(:func:`family_parameters`) as the mean's enter ``eta``: ``re`` keeps or drops a group in every part it is in, and a
new level's effects in a part are drawn from that part's SDs and correlations (:mod:`.group_effects`).
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import naming
from ..categories import category_prefixes, threshold_names
from ..column_types import with_factors
from ..data import as_dataframe, check_column_types, prepare_data
from ..design import evaluate_expression
from ..errors import BayesMMError, DataError, closest
from ..families import part_component, part_link
from ..formula import expression_variables
from ..formula_lexing import quote_name
from ..links import NUMPY_INVERSE_LINKS
from ..phrasing import setting
from .arguments import check_prob, draw_index
from .group_effects import add_group_effects, evaluate, flat_draws, new_groups, training_groups
from .probabilities import check_categorical_kind, check_probs_kind, category_predictors, probability_table

__all__ = ["PredictionDesign", "prediction_design", "require_rows", "training_frame", "kept_groups", "draw_quantities",
           "predict_table", "posterior_predictive"]

KINDS = ("mean", "response", "link", "probs")


@dataclass(frozen=True)
class PredictionDesign:
    """Arrays for predictions: ``X`` (rows x fixed effects, uncentred), ``offset`` and ``trials`` (rows or
    None), per group ``(level index per row, Z rows x terms, names of new levels)`` (index ``>= n_levels``
    points into the new levels), per family-parameter formula its X, the row labels, and per family-parameter
    formula with random effects its groups (``part_groups``, as ``groups``); ``truncation``: the rows' ``(lb, ub)``
    of a model fitted with ``trunc()`` (its means and draws are the truncated distribution's), else None."""

    X: np.ndarray
    offset: np.ndarray | None
    trials: np.ndarray | None
    groups: dict
    parts: dict
    row_labels: pd.Index
    part_groups: dict = field(default_factory=dict)
    truncation: tuple | None = None
    #: per part (``"cond"``, ``"zi"``, ...), the new times/positions of its groups with a positional structure
    positions: dict = field(default_factory=dict)


def require_rows(fit, what: str, frame: bool = False) -> None:
    """Refuse an answer about the training rows (``frame``: that needs the training data frame itself) for a
    fit saved without its training data."""
    if not fit.design.has_rows or (frame and fit.data is None):
        raise BayesMMError(f"{what} needs the training rows, which this fit does not keep (it was saved with "
                           "fit.save(path, data=False)). Predictions for new data (newdata=) work; for this, save "
                           "and load the fit with data=True.")


def kept_groups(fit, re="all") -> tuple[str, ...]:
    """The groups whose random effects a prediction keeps: all of them (``re="all"``), none (``"none"``), or those
    named (a list, or one name), as the formula writes them: ``"Subject"``, ``"site:block"``, and ``"site/block"`` for
    ``site`` and ``site:block``; a group is kept or left out in every part it is in (the mean's formula, ``zi=``,
    ...). A name that is not a group of the model is refused, with the groups there are."""
    groups = tuple(dict.fromkeys(block.group for block in fit.design.blocks))
    if isinstance(re, str) and re in ("all", "none"):
        return groups if re == "all" else ()
    names = [re] if isinstance(re, str) else re
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise BayesMMError(f"re must be 'all', 'none' or a list of grouping factors such as {list(groups[:2])}, "
                           f"not {re!r}.")
    kept = []
    for name in names:
        nested = name.split("/")
        for depth in range(1, len(nested) + 1):  # a/b/c: a, a:b, a:b:c (lme4's nesting)
            group = ":".join(factor.strip().strip("`") for factor in ":".join(nested[:depth]).split(":"))
            if group not in groups:
                hint = closest(group, groups) if groups else " This model has no random effects."
                if "|" in name or "~" in name:
                    hint = f" re takes the groups' names (re={list(groups[:1])}), not a formula."
                raise BayesMMError(f"re names {group!r}, which is not a grouping factor of this model.{hint} "
                                   f"Groups: {list(groups)}; re takes a list of them, 'all' or 'none'.")
            kept.append(group)
    return tuple(g for g in groups if g in kept)


def _random_parts(fit) -> list[str]:
    """The family parameters whose formulas have random effects."""
    return list(dict.fromkeys(block.part for block in fit.design.blocks if block.part != "cond"))


def _training_design(fit, kept: tuple) -> PredictionDesign:
    require_rows(fit, "An answer about the training rows (fitted values, posterior predictive and residual checks)")
    design = fit.design
    labels = design.row_labels if design.row_labels is not None else pd.RangeIndex(design.n_obs)
    bounds = design.bounds if design.bounds is not None and design.bounds.truncated else None
    return PredictionDesign(design.X, design.offset, design.trials, training_groups(design, kept),
                            {name: X for name, (X, _) in design.parts.items()}, labels,
                            {part: training_groups(design, kept, part) for part in _random_parts(fit)},
                            None if bounds is None else (bounds.lb, bounds.ub))


def _new_truncation(fit, frame: pd.DataFrame) -> tuple | None:
    """``(lb, ub)`` of newdata's rows for a model fitted with ``trunc()``: constants, or columns newdata must hold."""
    bounds = fit.design.bounds
    if bounds is None or not bounds.truncated:
        return None
    ends = []
    for expr, what, open_end in ((bounds.lower_limit, "lower", -np.inf), (bounds.upper_limit, "upper", np.inf)):
        if not expr:
            ends.append(np.full(len(frame), open_end))
            continue
        try:
            values = evaluate_expression(expr, frame, f"{what} truncation bound").astype(float)
        except DataError as err:
            raise DataError(f"{err} The model was fitted with trunc(), so its means and draws lie inside each row's "
                            f"bounds: give newdata the column(s) of '{expr}'.") from None
        if np.isnan(values).any():
            raise DataError(f"The {what} truncation bound '{expr}' is missing in {int(np.isnan(values).sum())} rows "
                            "of newdata; give every row its bound.")
        ends.append(values)
    if np.any(ends[0] >= ends[1]):
        raise DataError(f"newdata has {int(np.sum(ends[0] >= ends[1]))} rows whose truncation bounds leave nothing "
                        f"between them ('{bounds.lower_limit}' >= '{bounds.upper_limit}').")
    return tuple(ends)


def _needed_columns(fit, kept: tuple, need_trials: bool) -> list[str]:
    spec, family = fit.design.spec, fit.family
    pieces = list(spec.fixed_terms) + list(spec.offsets)
    random = [r for r in spec.random if r.group in kept]  # the columns of groups left out are not needed
    for part in _part_specs(fit).values():
        pieces += list(part.fixed_terms)
        random += [r for r in part.random if r.group in kept]
    pieces += [t for r in random for t in r.terms]
    pieces += [quote_name(f) for r in random for f in r.group_factors]  # '`my group`', not 'my group'
    if need_trials and family.response == "binomial" and spec.response.kind != "expr":
        pieces += list(spec.response.exprs[1:] if spec.response.kind == "trials" else spec.response.exprs)
    names = []
    for piece in pieces:
        for name in expression_variables(piece.lstrip("- ")):
            if name not in names:
                names.append(name)
    return names


def _part_specs(fit) -> dict:
    return fit.design.part_specs


def training_frame(fit) -> pd.DataFrame:
    """The training rows the model used (after dropping incomplete ones), with the formulas' columns."""
    require_rows(fit, "A plot over the training data", frame=True)
    variables = list(fit.design.spec.variables)
    for part in _part_specs(fit).values():
        variables += [v for v in part.variables if v not in variables]
    data = as_dataframe(fit.data)
    if data.index.is_unique:
        return data.loc[fit.design.row_labels, variables].reset_index(drop=True)
    with warnings.catch_warnings():  # repeated index labels: drop incomplete rows again, as the design did
        warnings.simplefilter("ignore")
        return prepare_data(data, variables, fit.design.spec.text).frame


def _part_encoders(fit) -> dict:
    """The design's encoders of new data for the family-parameter formulas' fixed parts."""
    return fit.design.part_encoders


def _check_newdata(fit, newdata, kept: tuple, need_trials: bool) -> pd.DataFrame:
    frame = as_dataframe(newdata, "newdata")
    frame = with_factors(frame, [name for name in fit.call.factors or () if name in frame.columns])
    needed = _needed_columns(fit, kept, need_trials)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        hint = closest(missing[0], frame.columns)
        if need_trials and set(missing) & set(_needed_columns(fit, kept, True)) - set(_needed_columns(fit, kept, False)):
            hint += f" The response's columns give the binomial trials; without them, give {setting('trials', 10)}."
        raise DataError(f"newdata lacks the column(s) {missing} that the model needs for this prediction.{hint} "
                        f"Needed: {needed}.")
    incomplete = [c for c in needed if frame[c].isna().any()]
    if incomplete:
        raise DataError(f"newdata has missing values in {incomplete}; predictions need complete rows. Drop or "
                        "fill them first.")
    check_column_types(frame, needed, "newdata")
    _check_numbers(fit, frame, needed)
    return frame


def _check_numbers(fit, frame: pd.DataFrame, needed) -> None:
    """Columns that were numbers in the training data must be finite numbers in newdata."""
    for name in needed:
        was_number = name in fit.design.numeric_columns
        column = frame[name]
        if was_number and not pd.api.types.is_numeric_dtype(column):
            raise DataError(f"Column '{name}' of newdata holds {column.dtype} values but the model was fitted with "
                            "numbers there; convert it with pd.to_numeric.")
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            infinite = ~np.isfinite(column.to_numpy(dtype=float))
            if infinite.any():
                raise DataError(f"Column '{name}' of newdata has {int(infinite.sum())} infinite values (rows "
                                f"{list(frame.index[infinite][:5])}); predictions need finite values.")


def _new_trials(fit, frame: pd.DataFrame, trials) -> np.ndarray | None:
    """Binomial trials of the new rows: ``trials`` if given, else from the response's columns (1 for a 0/1
    response)."""
    if fit.family.response != "binomial":
        return None
    if trials is not None:
        values = np.broadcast_to(np.asarray(trials, dtype=float), (len(frame),)).copy()
    else:
        response = fit.design.spec.response
        if response.kind == "expr":
            return np.ones(len(frame))
        parts = [evaluate_expression(e, frame, "trials").astype(float) for e in response.exprs]
        values = parts[0] + parts[1] if response.kind == "cbind" else parts[1]
    if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values != np.round(values)):
        raise DataError("The binomial trials of newdata must be non-negative whole numbers.")
    return values


def prediction_design(fit, newdata=None, re="all", need_trials: bool = True, trials=None) -> PredictionDesign:
    """The :class:`PredictionDesign` of the training data (``newdata=None``) or of ``newdata``, with the random
    effects of the groups ``re`` keeps (:func:`kept_groups`)."""
    kept = kept_groups(fit, re)
    if newdata is None:
        base = _training_design(fit, kept)
        if trials is not None and base.trials is not None:
            return dataclasses.replace(base, trials=np.broadcast_to(np.asarray(trials, float), base.trials.shape))
        return base
    frame = _check_newdata(fit, newdata, kept, need_trials and trials is None)
    design = fit.design
    X = evaluate(design.fixed_encoder, frame, design.fixed_names, "fixed part")
    offset = None
    if design.spec.offsets:
        offset = sum(evaluate_expression(o, frame, "offset").astype(float) for o in design.spec.offsets)
        if not np.all(np.isfinite(offset)):
            raise DataError(f"The offset {list(design.spec.offsets)} is not finite on newdata; check its columns.")
    parts = {name: evaluate(encoder, frame, design.parts[name][1], f"formula of {name}")
             for name, encoder in (_part_encoders(fit).items() if design.parts else ())}
    positions = {part: {} for part in ["cond"] + _random_parts(fit)}
    return PredictionDesign(X, offset, _new_trials(fit, frame, trials) if need_trials else None,
                            new_groups(design, frame, kept, "cond", positions["cond"]), parts, frame.index,
                            {part: new_groups(design, frame, kept, part, positions[part]) for part in _random_parts(fit)},
                            _new_truncation(fit, frame) if need_trials else None, positions)


def linear_predictor(fit, pd_: PredictionDesign, index, new_levels: str = "sample", seed: int = 0) -> np.ndarray:
    """eta (draws x rows) = X b + offset + sum over groups and terms of ``Z[:, j] r[level, j]``."""
    fixed = flat_draws(fit, naming.variable("fixed"), index)
    eta = fixed[:, fixed.shape[1] - pd_.X.shape[1]:] @ pd_.X.T  # an ordinal fit's thresholds come first, not in X
    if pd_.offset is not None:
        eta = eta + pd_.offset
    return add_group_effects(fit, eta, pd_.groups, index, new_levels, np.random.default_rng(seed),
                             positions=pd_.positions.get("cond"))


def family_parameters(fit, pd_: PredictionDesign, index, new_levels: str = "sample", seed: int = 0) -> dict:
    """Family parameters per draw (vector), or per draw and row for those with their own formula: its linear
    predictor ``X_part b_part`` plus its random effects (``pd_.part_groups``; new levels by ``new_levels``, drawn
    with a generator of its own per part from ``seed``), through the part's inverse link."""
    aux = {}
    for number, param in enumerate(fit.family.aux, start=1):
        if param.name in pd_.parts:
            coefficients = flat_draws(fit, naming.variable("fixed", part=part_component(param.name)), index)
            linear = add_group_effects(fit, coefficients @ pd_.parts[param.name].T, pd_.part_groups.get(param.name, {}),
                                       index, new_levels, np.random.default_rng([seed, number]), param.name,
                                       pd_.positions.get(param.name))
            aux[param.name] = NUMPY_INVERSE_LINKS[part_link(param.name)](linear)
        else:
            aux[param.name] = flat_draws(fit, param.name, index)
    thresholds = len(threshold_names(fit.design, fit.family))
    if thresholds:  # ordinal: the first fixed effects (bayesmm.categories)
        aux["thresholds"] = flat_draws(fit, naming.variable("fixed"), index)[:, :thresholds]
    return aux


def _check_options(fit, kind: str, re, new_levels: str, prob: float) -> tuple:
    """The options checked; returns the groups ``re`` keeps."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise BayesMMError(f"kind must be one of {KINDS}, not {kind!r}.")
    if kind == "probs":
        check_probs_kind(fit)
    if kind == "mean":
        check_categorical_kind(fit)
    if not isinstance(new_levels, str) or new_levels not in ("sample", "population", "error"):
        raise BayesMMError(f"new_levels must be 'sample', 'population' or 'error', not {new_levels!r}.")
    check_prob(prob)
    return kept_groups(fit, re)


def draw_quantities(fit, newdata=None, kind: str = "mean", re="all", new_levels: str = "sample",
                    draws=None, seed: int = 0, trials=None):
    """(draws x rows) array of the linear predictor (``kind="link"``), the expected response (``"mean"``,
    brms's ``posterior_epred``) or response draws (``"response"``, brms's ``posterior_predict``), with the
    design used; the draws are those of :func:`~bayesmm.answers.arguments.draw_index`. ``re``: ``"all"``, ``"none"`` or the groups whose
    random effects to keep (:func:`kept_groups`)."""
    from ..model.simulate import response_quantity

    kept = _check_options(fit, kind, re, new_levels, 0.5)
    design = prediction_design(fit, newdata, kept, kind != "link", trials)
    index = draw_index(fit, draws)
    if category_prefixes(fit.design, fit.family):  # categorical: a linear predictor per category, last axis
        eta = category_predictors(fit, design, lambda part: linear_predictor(fit, part, index, new_levels, seed))
    else:
        eta = linear_predictor(fit, design, index, new_levels, seed)
    if kind == "link":
        return eta, design
    aux = family_parameters(fit, design, index, new_levels, seed)
    values = response_quantity(fit.family.name, fit.family.link, eta, aux, design.trials, kind, seed,
                               design.truncation)
    if fit.design.autocor is not None and newdata is None and len(kept) == len(kept_groups(fit)):
        from .autocor import conditional_on_previous  # the residual's autocorrelation given the rows before

        mean = values if kind == "mean" else response_quantity(fit.family.name, fit.family.link, eta, aux, None, "mean")
        values = conditional_on_previous(fit, mean, aux["sigma"], index, kind, seed)
    if not np.all(np.isfinite(values)):
        raise BayesMMError(f"The {kind} predictions have non-finite values (an extreme linear predictor?); "
                           "try kind='link' to see where.")
    return values, design


def predict_table(fit, newdata=None, kind: str = "mean", re="all", new_levels: str = "sample",
                  prob: float = 0.95, draws=None, seed: int = 0, summary: bool = True, trials=None) -> pd.DataFrame:
    """Posterior mean, SD and equal-tailed ``prob`` interval per row (brms's ``fitted``/``predict`` columns
    Estimate, Est.Error, Q2.5, Q97.5), or with ``summary=False`` the draws (rows: draws, columns: rows)."""
    kept = _check_options(fit, kind, re, new_levels, prob)
    values, design = draw_quantities(fit, newdata, kind, kept, new_levels, draws, seed, trials)
    if kind == "probs" or values.ndim == 3:  # categories, or a categorical fit's linear predictors
        columns = fit.design.response_levels if kind == "probs" else category_prefixes(fit.design, fit.family)
        return probability_table(values, design.row_labels, columns, prob, summary)
    if not summary:
        return pd.DataFrame(values, columns=design.row_labels).rename_axis(index="draw", columns="row")
    tail = (1 - prob) / 2
    low, high = np.quantile(values, [tail, 1 - tail], axis=0)
    return pd.DataFrame({"Estimate": values.mean(axis=0), "Est.Error": values.std(axis=0, ddof=1),
                         f"Q{100 * tail:g}": low, f"Q{100 * (1 - tail):g}": high}, index=design.row_labels)


def posterior_predictive(fit, seed: int = 0):
    """Replicated responses of the training rows, one per posterior draw, as an xarray Dataset ``y``
    (chain, draw, obs_id), the layout of ArviZ's ``posterior_predictive`` group."""
    import xarray as xr

    values, _ = draw_quantities(fit, None, "response", "all", "sample", None, seed)
    post = fit.idata.posterior
    shaped = values.reshape(post.sizes["chain"], post.sizes["draw"], -1)
    return xr.Dataset({"y": (("chain", "draw", "obs_id"), shaped)},
                      coords={"chain": post["chain"].values, "draw": post["draw"].values,
                              "obs_id": np.arange(shaped.shape[-1])})
