"""Responses in categories: their levels, their codes ``1 .. K``, and the design an ordinal or categorical family
needs.

An ordinal response (family ``cumulative``) is read as ``K`` ordered categories, from (first that applies):

* ``levels=`` (``Model``/``fit``): the categories in order; every value of the response must be one of them
  (matched as written, so ``levels=[1, 2, 3]`` matches the numbers 1, 2, 3 and the strings "1", "2", "3");
* an ordered pandas ``Categorical`` column: its categories (as ``ordinal::clm`` reads an ordered factor);
* whole numbers (or an unordered ``Categorical`` of numbers): every integer from the smallest to the largest,
  so that scores 1-5 are five categories even where one is never used;
* nothing else: strings (or an unordered ``Categorical`` of strings) carry no order, so they need ``levels=``.

The design's ``y`` becomes the codes ``1 .. K`` and ``response_levels`` the levels, as strings. A category that
no row uses keeps its threshold, which the prior alone then places (a warning says so).

The thresholds play the intercept's role (``P(y <= k) = F(c_k - eta)``), so the fixed part's ``Intercept``
column is dropped, as brms and ``ordinal::clm`` do; a fixed part whose columns add up to a constant without it
(``0 + temp``: a column per level) could not be told from the thresholds and is refused.

A categorical response (family ``categorical``, unordered) takes its levels from ``levels=``, a pandas
``Categorical`` (ordered or not: its categories) or the sorted distinct values (R's factor levels); the first is
the reference. Each other category ``k`` has a linear predictor of its own, named as brms names it, ``mu<k>`` with
``k`` the level's letters and digits (``mub``; ``mu2``, ``mu3``, ... when those are empty or repeated): the design
holds the fixed columns once per category (``mub_Intercept``, ``mub_x``, ``muc_Intercept``, ...) and each
random-effect block once per category (terms ``mub_Intercept``, ... of the same group, independent across
categories), category by category, with an encoder of new data that does the same
(:class:`CategoryEncoder`). A term with brms's ID, ``(1 | p | g)``, is instead one block across the categories
(columns ``mub_Intercept``, ``muc_Intercept``, after the per-category blocks) with one correlation matrix over all
its columns, as brms correlates the group's effects across the linear predictors where an ID is given;
:func:`column_predictors` tells the model which predictor each column enters. An offset, which would enter every
category's predictor alike, is refused.
"""
from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd

from .data import as_dataframe
from .design import Design
from .errors import BayesMMWarning, DataError, FamilyError, FormulaError
from .families import Family

__all__ = ["CATEGORY_RESPONSES", "coded_response", "response_levels", "threshold_coefs", "threshold_names",
           "MIN_ORDINAL_LEVELS", "category_prefixes", "column_predictors", "CategoryEncoder", "unordered_levels"]

#: the families' response kinds read as categories
CATEGORY_RESPONSES = ("ordinal", "categorical")
#: an ordinal model needs at least this many categories (two are a binary response)
MIN_ORDINAL_LEVELS = 3


def _label(value) -> str:
    """A category's name: whole numbers without a decimal point (``3.0`` -> ``"3"``), the rest as ``str``."""
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _rows(bad: np.ndarray, row_labels) -> list:
    rows = np.flatnonzero(bad)[:5]
    return [row_labels[i] if row_labels is not None else int(i) for i in rows]


def _given_levels(levels, column: str) -> tuple[str, ...]:
    if isinstance(levels, (str, bytes)) or not hasattr(levels, "__iter__"):
        raise DataError(f"levels= takes the categories of '{column}' in order, as a list such as "
                        f"['low', 'medium', 'high'], not {levels!r}.")
    names = tuple(_label(level) for level in levels)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DataError(f"levels= names {repeated} more than once; give each category of '{column}' once, in order.")
    return names


def _number_levels(values: np.ndarray, family: Family, column: str, row_labels) -> tuple[str, ...]:
    numbers = values.astype(float)
    fractional = numbers != np.round(numbers)
    if fractional.any():
        raise FamilyError(f"Family '{family.name}' needs whole-number scores (or ordered categories), but the "
                          f"response '{column}' has {int(fractional.sum())} non-integer values "
                          f"({sorted(set(numbers[fractional].tolist()))[:5]}, rows {_rows(fractional, row_labels)}). "
                          "Round them to the scale's scores, or give the categories as an ordered pandas "
                          "Categorical or with levels=.")
    low, high = int(numbers.min()), int(numbers.max())
    return tuple(str(k) for k in range(low, high + 1))


def response_levels(values, family: Family, column: str, levels=None, dtype=None, row_labels=None):
    """``(codes 1 .. K as floats, levels as strings)`` of an ordinal response (see the module docstring);
    ``dtype``: the response column's pandas dtype (an ordered ``Categorical`` gives the levels)."""
    values = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if levels is not None:
        names = _given_levels(levels, column)
    elif isinstance(dtype, pd.CategoricalDtype) and dtype.ordered:
        names = tuple(_label(c) for c in dtype.categories)
    elif all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
             for v in values.tolist()):
        names = _number_levels(np.asarray(values.tolist(), dtype=float), family, column, row_labels)
    else:
        seen = sorted({_label(v) for v in values.tolist()})
        raise FamilyError(f"The response '{column}' holds categories without an order ({seen[:6]}): family "
                          f"'{family.name}' needs them ordered. Pass levels= with the categories from lowest to "
                          f"highest (levels={seen[:3]}...), or make the column an ordered pandas Categorical "
                          "(pd.Categorical(values, categories=[...], ordered=True)).")
    labels = np.array([_label(v) for v in values.tolist()], dtype=object)
    position = {name: k + 1 for k, name in enumerate(names)}
    unknown = np.array([label not in position for label in labels], dtype=bool)
    if unknown.any():
        raise DataError(f"The response '{column}' has values that levels= does not name "
                        f"({sorted(set(labels[unknown].tolist()))[:5]}, rows {_rows(unknown, row_labels)}). Add them "
                        f"to levels= in their place in the order (levels given: {list(names)}), or drop those rows.")
    if len(names) < MIN_ORDINAL_LEVELS:
        raise FamilyError(f"The response '{column}' has {len(names)} categories ({list(names)}): family "
                          f"'{family.name}' needs at least {MIN_ORDINAL_LEVELS} ordered categories. With two, use "
                          "family='bernoulli' (the same model with one threshold as its intercept).")
    codes = np.array([position[label] for label in labels], dtype=float)
    unused = [name for k, name in enumerate(names) if not np.any(codes == k + 1)]
    if unused:
        warnings.warn(f"No row of '{column}' is in categories {unused}: their thresholds are placed by the prior "
                      "alone. Drop them from levels= if they are not part of the scale.", BayesMMWarning,
                      stacklevel=4)
    return codes, names


def _without_intercept(design: Design) -> Design:
    """The design without its ``Intercept`` column; refused when the other columns add up to a constant."""
    names = list(design.fixed_names)
    keep = [j for j, name in enumerate(names) if name != "Intercept"]
    X = design.X[:, keep]
    if X.shape[1] and "Intercept" not in names:
        with_constant = np.column_stack([np.ones(X.shape[0]), X])
        if np.linalg.matrix_rank(with_constant) <= np.linalg.matrix_rank(X):
            raise FormulaError(f"The fixed part of '{design.spec.text}' has columns that add up to a constant "
                               f"({[names[j] for j in keep]}; '0 +' with a factor codes every level): the "
                               "thresholds take the intercept's place and cannot be told apart from them. Keep the "
                               "intercept in the formula (bayesmm drops it for ordinal families, as brms does).",
                               design.spec.text)
    return dataclasses.replace(design, X=X, fixed_names=tuple(names[j] for j in keep))


def unordered_levels(values, family: Family, column: str, levels=None, dtype=None, row_labels=None):
    """``(codes 1 .. K as floats, levels as strings)`` of a categorical response (see the module docstring)."""
    labels = np.array([_label(v) for v in np.asarray(values, dtype=object).tolist()], dtype=object)
    if levels is not None:
        names = _given_levels(levels, column)
    elif isinstance(dtype, pd.CategoricalDtype):
        names = tuple(_label(c) for c in dtype.categories if _label(c) in set(labels.tolist()))
    else:
        seen = set(labels.tolist())
        numeric = all(isinstance(v, (int, float, np.integer, np.floating)) for v in np.asarray(values).tolist())
        names = tuple(sorted(seen, key=float) if numeric else sorted(seen))
    position = {name: k + 1 for k, name in enumerate(names)}
    unknown = np.array([label not in position for label in labels], dtype=bool)
    if unknown.any():
        raise DataError(f"The response '{column}' has values that levels= does not name "
                        f"({sorted(set(labels[unknown].tolist()))[:5]}, rows {_rows(unknown, row_labels)}). Add them "
                        f"to levels= (levels given: {list(names)}), or drop those rows.")
    used = sorted(set(labels.tolist()))
    if len(used) < 2:
        raise FamilyError(f"The response '{column}' has a single category ({used}) in its {len(labels)} rows: family "
                          f"'{family.name}' models the choice among two or more. Check the column (and rows dropped "
                          "for missing values), or model another response.")
    unused = [name for name in names if name not in set(used)]
    if unused:
        warnings.warn(f"No row of '{column}' is in categories {unused}: their linear predictors are set by the prior "
                      "alone. Drop them from levels= unless they belong to the choice.", BayesMMWarning, stacklevel=4)
    return np.array([position[label] for label in labels], dtype=float), names


def _prefixes(levels) -> tuple[str, ...]:
    """brms's names of the non-reference categories' linear predictors: ``mu`` + the level's letters and digits."""
    letters = [re.sub(r"[^0-9A-Za-z]", "", name) for name in levels[1:]]
    if all(letters) and len(set(letters)) == len(letters):
        return tuple(f"mu{name}" for name in letters)
    return tuple(f"mu{k}" for k in range(2, len(levels) + 1))


def category_prefixes(design: Design, family: Family) -> tuple[str, ...]:
    """The linear predictors of a categorical family (``("mub", "muc")``); none for other families."""
    return _prefixes(design.response_levels) if family.response == "categorical" else ()


def column_predictors(block, prefixes) -> tuple[int, ...]:
    """Per column of a categorical design's block, the index of the linear predictor its effects enter (the
    column's prefix among ``prefixes``)."""
    return tuple(next(i for i, prefix in enumerate(prefixes) if column.startswith(prefix + "_"))
                 for column in block.columns)


class _Columns:
    """What formulae's ``evaluate_new_data`` returns, as far as predictions read it (``as_dataframe``)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def as_dataframe(self) -> pd.DataFrame:
        return self.frame


class CategoryEncoder:
    """The fixed part's encoder of new data for a categorical response: formulae's columns once per linear
    predictor, prefixed (``mub_Intercept``, ``mub_x``, ``muc_Intercept``, ...), as the design holds them."""

    def __init__(self, encoder, prefixes):
        self.encoder, self.prefixes = encoder, tuple(prefixes)

    @property
    def terms(self):
        """formulae's terms of the formula (what readers of the design's predictors use: ``answers.grid``)."""
        return self.encoder.terms

    def evaluate_new_data(self, frame):
        base = self.encoder.evaluate_new_data(frame).as_dataframe()
        return _Columns(pd.concat([base.add_prefix(f"{prefix}_") for prefix in self.prefixes], axis=1))


def _shared_block(block, prefixes):
    """A block of a term with an ID, ``(1 | p | g)``, as one block over every linear predictor: its columns once per
    category (``mub_Intercept``, ``muc_Intercept``), one correlation matrix across them all (brms's)."""
    n = len(prefixes)
    within = np.arange(block.Z.shape[1]) if block.column_slice is None else \
        np.arange(block.column_slice.start, block.column_slice.stop)
    return dataclasses.replace(block, columns=tuple(f"{prefix}_{c}" for prefix in prefixes for c in block.columns),
                               Z=np.hstack([block.Z] * n), column_scale=np.tile(block.column_scale, n),
                               correlated=True, column_slice=np.tile(within, n))


def _per_category(design: Design, prefixes) -> Design:
    """The design with its fixed columns and random-effect blocks once per linear predictor (module docstring)."""
    if design.offset is not None:
        raise FormulaError(f"'{design.spec.text}' has an offset, which the categorical family cannot place: it would "
                           "enter every category's linear predictor alike. Add the column as a predictor instead.",
                           design.spec.text)
    shared = [block.term is not None and bool(block.term.id) for block in design.blocks]
    blocks = tuple(dataclasses.replace(block, columns=tuple(f"{prefix}_{c}" for c in block.columns))
                   for prefix in prefixes for block, joint in zip(design.blocks, shared) if not joint)
    blocks += tuple(_shared_block(block, prefixes) for block, joint in zip(design.blocks, shared) if joint)
    return dataclasses.replace(design, X=np.hstack([design.X] * len(prefixes)), blocks=blocks,
                               fixed_names=tuple(f"{prefix}_{n}" for prefix in prefixes for n in design.fixed_names),
                               fixed_encoder=CategoryEncoder(design.fixed_encoder, prefixes))


def coded_response(design: Design, family: Family, levels, data) -> Design:
    """The design with an ordinal or categorical response coded ``1 .. K`` (``response_levels`` set): without an
    intercept column for an ordinal family, with its columns and blocks once per category for a categorical one;
    other families' designs unchanged (``levels`` must then be None)."""
    if family.response not in CATEGORY_RESPONSES:
        if levels is not None:
            raise FamilyError(f"levels= gives the categories of an ordinal or categorical response; family "
                              f"'{family.name}' takes none. Drop levels=, or use family='cumulative' or "
                              "'categorical'.")
        return design
    column = design.response_name
    frame = as_dataframe(data)
    dtype = frame[column].dtype if column in frame.columns else None
    if family.response == "categorical":
        codes, names = unordered_levels(design.y, family, column, levels, dtype, design.row_labels)
        coded = dataclasses.replace(design, y=codes, response_levels=names)
        return _per_category(coded, _prefixes(names))
    codes, names = response_levels(design.y, family, column, levels, dtype, design.row_labels)
    return dataclasses.replace(_without_intercept(design), y=codes, response_levels=names)


def threshold_coefs(design: Design, family: Family) -> tuple[str, ...]:
    """The thresholds' coefficients in the priors (class ``Intercept``, coef ``1`` .. ``K-1``, as brms's); none
    for other families."""
    if family.response != "ordinal":
        return ()
    return tuple(str(k) for k in range(1, len(design.response_levels)))


def threshold_names(design: Design, family: Family) -> tuple[str, ...]:
    """The thresholds as fixed effects (``Intercept[1]`` .. ``Intercept[K-1]``, brms's names): the first
    coefficients of the posterior's ``b``."""
    return tuple(f"Intercept[{coef}]" for coef in threshold_coefs(design, family))
