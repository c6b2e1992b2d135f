"""Columns read as the model needs them: numbers that code categories (``factors=``), and number columns made text by
a stray value.

R reads a column of whole numbers as numbers, and lme4 then fits one slope for it; cbpp's ``period`` (1 to 4) is a
category, which ``factor(period)`` (here ``factors=["period"]``) makes one. A numeric fixed predictor holding only the
codes 1, 2, ..., k gets a warning that names it. A number column with one cell such as ``n/a?`` is read as text by
pandas: it is refused here, naming the column, the row and the value, rather than fitted as a factor of every
distinct number or refused later as "not numeric".
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from .data import as_dataframe
from .errors import BayesMMWarning, DataError, closest
from .phrasing import command_line, setting

__all__ = ["with_factors", "warn_coded_numbers", "check_numbers_as_text", "MAX_CODES"]


def _factor(series: pd.Series) -> pd.Series:
    """A column as a categorical: numbers with their levels in numeric order, whole numbers written without a
    decimal point (``period[2]``, not ``period[2.0]``); text and categoricals as they are."""
    if isinstance(series.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        return series
    values = np.sort(series.dropna().unique())
    labels = {v: f"{v:.0f}" if float(v).is_integer() else str(v) for v in values}
    return pd.Series(pd.Categorical(series.map(labels), categories=list(dict.fromkeys(labels.values()))),
                     index=series.index, name=series.name)


def with_factors(data, factors):
    """``data`` with the columns ``factors`` (a list of names, or one name) as categoricals, levels of numeric
    columns in numeric order (R's ``factor()``); the data as they are when there are none. An unknown column is a
    :class:`DataError` naming it."""
    if factors is None or len(factors) == 0:
        return data
    names = [factors] if isinstance(factors, str) else list(factors)
    if not all(isinstance(name, str) for name in names):
        raise DataError(f"factors takes a list of column names, e.g. factors=['period'], not {factors!r}.")
    frame = as_dataframe(data)
    for name in names:
        if name not in frame.columns:
            raise DataError(f"{setting('factors', names)} names '{name}', which is not a column of the data."
                            f"{closest(name, frame.columns)} Columns: {', '.join(map(str, frame.columns))}.")
    if all(isinstance(frame[name].dtype, pd.CategoricalDtype) for name in names):
        return frame
    return frame.assign(**{name: _factor(frame[name]) for name in names})


#: a numeric fixed predictor with 3 to this many distinct values, the codes 1, 2, ..., k, is probably a category
MAX_CODES = 10


def warn_coded_numbers(spec, frame: pd.DataFrame) -> None:
    """Warn about each numeric column of the fixed part holding the whole numbers 1, 2, ..., k (3 <= k <= 10)
    alone: it enters the model as one slope, where codes such as periods, treatments or sites usually mean
    categories (cbpp's ``period``); the warning names the column and the argument that makes it one."""
    names = dict.fromkeys(piece.strip().strip("`") for term in spec.fixed_terms if not term.startswith("- ")
                          for piece in re.split(r"[:*]", term))
    for name in names:
        if name not in frame.columns:
            continue
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            continue
        values = np.unique(column.dropna().to_numpy(dtype=float))
        if 3 <= len(values) <= MAX_CODES and np.array_equal(values, np.arange(1, len(values) + 1)):
            warnings.warn(f"Column '{name}' holds only the whole numbers 1 to {len(values)} and enters the formula "
                          f"as a number (one slope). If it codes categories, read it as a factor: "
                          f"{setting('factors', [name])}.", BayesMMWarning, stacklevel=4)


def check_numbers_as_text(frame: pd.DataFrame, names, what: str = "data", responses=()) -> None:
    """Refuse a text column of ``names`` whose values are numbers but for a few (at most a tenth): a stray
    ``n/a?`` or ``1,5`` that made a number column text, naming the column, the rows and the values; a column of
    labels (most values not numbers) passes as a factor. ``responses``: columns of the response, which no
    ``factors=`` can mend."""
    for name in names:
        column = frame[name] if name in frame.columns else None
        if column is None or not (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)):
            continue
        present = column.dropna()
        text = present[[isinstance(v, str) for v in present]]
        numbers = pd.to_numeric(text.str.strip(), errors="coerce")
        bad = text[numbers.isna().to_numpy()]
        if len(text) and len(bad) and len(bad) <= 0.1 * len(present):
            shown = ", ".join(f"{value!r} ({_row_name(label, frame)})" for label, value in bad.iloc[:3].items())
            one = len(bad) == 1
            hint = ("" if name in responses else
                    f", or, if the column codes categories, read it as a factor: {setting('factors', [name])}")
            raise DataError(f"Column '{name}'{'' if what == 'data' else ' of ' + what} holds numbers except {len(bad)} value{'' if one else 's'}: "
                            f"{shown}{' and more' if len(bad) > 3 else ''}. Fix or remove {'it' if one else 'them'} "
                            f"(a missing value is an empty cell or NA){hint}.")


def _row_name(label, frame: pd.DataFrame) -> str:
    """``row 4``, or on the command line for a CSV file read in order, the line of the file: ``line 6 of x.csv``."""
    cli = command_line()
    if cli is not None and isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and \
            frame.index.step == 1 and not cli.data.lower().endswith((".parquet", ".pq")):
        return f"line {int(label) + 2} of {cli.data}"
    return f"row {label}"
