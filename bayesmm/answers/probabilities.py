"""Answers about a response in categories (families ``cumulative`` and ``categorical``): category probabilities
as tables, the posterior predictive check as bars, and a categorical fit's linear predictors.

``fit.predict(newdata, kind="probs")`` is brms's ``fitted()`` of an ordinal model (``posterior_epred``: per draw,
row and category ``P(y = k)``), laid out with one column per category: the summary's columns are
``(statistic, category)`` pairs (``table["Estimate"]`` is rows x categories), the draws' index is
``(draw, row)``. ``kind="mean"`` is the expected score ``sum_k k P(y = k)`` on ``1 .. K`` and ``kind="response"``
draws categories as their scores ``1 .. K`` (``fit.design.response_levels[k - 1]`` names score ``k``).

A categorical fit has one linear predictor per category but the reference (``mub``, ``muc``, ...;
:mod:`bayesmm.categories`): :func:`category_predictors` computes each from the prediction design with the other
categories' columns set to 0, so that the new levels' effects are drawn once for all of them (the same seed).
Its ``kind="link"`` has a column per linear predictor, ``"probs"`` one per category and ``"response"`` draws
category codes; ``"mean"`` is refused (unordered categories have no expected value).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ..categories import category_prefixes
from ..errors import BayesMMError
from ..posterior import group_terms

__all__ = ["probability_table", "category_ppc", "check_probs_kind", "check_categorical_kind", "category_predictors"]


def check_probs_kind(fit) -> None:
    """``kind="probs"`` needs a response in categories."""
    if not fit.design.response_levels:
        raise BayesMMError(f"kind='probs' gives each category's probability, for a response in categories "
                           f"(families 'cumulative', 'categorical'); this fit's family is '{fit.family.name}'. Use "
                           "kind='mean' (the expected response) or 'response' (draws of it).")


def check_categorical_kind(fit, what: str = "kind='mean'") -> None:
    """A categorical response has no expected value: refuse ``what`` (an expected response or means of it)."""
    if category_prefixes(fit.design, fit.family):
        raise BayesMMError(f"{what} needs an expected response, which unordered categories do not have (family "
                           f"'{fit.family.name}'). Use fit.predict(kind='probs') for each category's probability, "
                           "kind='response' for draws, or kind='link' for each category's log-odds against the "
                           f"reference '{fit.design.response_levels[0]}'.")


def category_predictors(fit, design, eta_of) -> np.ndarray:
    """A categorical fit's linear predictors (draws x rows x categories but the reference): ``eta_of`` (the linear
    predictor of a prediction design) of ``design`` with every other category's fixed columns and random-effect
    terms set to 0."""
    names = np.array(fit.design.fixed_names, dtype=object)
    terms = {group: np.array(found[0], dtype=object) for group, found in group_terms(fit.design).items()}
    etas = []
    for prefix in category_prefixes(fit.design, fit.family):
        mine = lambda labels: np.array([str(label).startswith(prefix + "_") for label in labels])  # noqa: E731
        groups = {group: (levels, Z * mine(terms[group]), new) for group, (levels, Z, new) in design.groups.items()}
        etas.append(eta_of(dataclasses.replace(design, X=design.X * mine(names), groups=groups)))
    return np.stack(etas, axis=-1)


def probability_table(values: np.ndarray, row_labels, levels, prob: float = 0.95,
                      summary: bool = True) -> pd.DataFrame:
    """Category probabilities (``values``: draws x rows x categories) as a table: with ``summary`` the posterior
    mean (``Estimate``), SD (``Est.Error``) and equal-tailed ``prob`` interval, columns ``(statistic, category)``
    and one row per data row; else the draws, index ``(draw, row)`` and one column per category."""
    levels = [str(level) for level in levels]
    if not summary:
        n_draws, n_rows, _ = values.shape
        index = pd.MultiIndex.from_product([np.arange(n_draws), list(row_labels)], names=["draw", "row"])
        return pd.DataFrame(values.reshape(n_draws * n_rows, -1), index=index,
                            columns=pd.Index(levels, name="category"))
    tail = (1 - prob) / 2
    low, high = np.quantile(values, [tail, 1 - tail], axis=0)
    parts = {"Estimate": values.mean(axis=0), "Est.Error": values.std(axis=0, ddof=1),
             f"Q{100 * tail:g}": low, f"Q{100 * (1 - tail):g}": high}
    frames = [pd.DataFrame(part, index=row_labels, columns=levels) for part in parts.values()]
    table = pd.concat(frames, axis=1, keys=list(parts), names=["statistic", "category"])
    return table


def category_ppc(y: np.ndarray, y_rep: np.ndarray, levels, prob: float = 0.9, column: str = "response"):
    """Bars of the observed rows per category with the replicated counts' mean and ``prob`` interval (brms's
    ``pp_check(type = "bars")``); ``y`` and ``y_rep`` (draws x rows) hold scores ``1 .. K``."""
    import matplotlib.pyplot as plt

    levels = [str(level) for level in levels]
    scores = np.arange(1, len(levels) + 1)
    observed = np.array([np.sum(y == k) for k in scores])
    replicated = np.stack([np.sum(y_rep == k, axis=1) for k in scores], axis=1)
    tail = (1 - prob) / 2
    low, high = np.quantile(replicated, [tail, 1 - tail], axis=0)
    mean = replicated.mean(axis=0)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(levels) + 2), 3.5))
    ax.bar(scores, observed, color="C0", alpha=0.6, label="observed")
    ax.errorbar(scores, mean, yerr=[mean - low, high - mean], fmt="o", color="k",
                label=f"replicated (mean, {100 * prob:g}% interval)")
    ax.set_xticks(scores)
    ax.set_xticklabels(levels)
    ax.set_xlabel(column)
    ax.set_ylabel("rows")
    ax.legend()
    fig.tight_layout()
    return fig
