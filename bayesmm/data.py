"""User data -> a clean :class:`pandas.DataFrame` holding only complete rows of the formula's columns.

This is where lme4's ``na.action = na.omit`` happens (with a warning that says how many rows and which
columns), and where data problems are caught before any matrix is built: a non-DataFrame, duplicated or
unknown columns, nullable dtypes with missing values, infinite values, an empty result.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import BayesMMWarning, DataError, closest

__all__ = ["CleanData", "as_dataframe", "check_column_types", "prepare_data", "frequency_weights",
           "used_categories"]


@dataclass(frozen=True)
class CleanData:
    """Complete rows of the columns a formula uses. ``row_labels`` are the original index labels kept;
    ``dropped`` counts missing values per column among the dropped rows."""

    frame: pd.DataFrame
    row_labels: pd.Index
    n_dropped: int
    dropped: dict


def as_dataframe(data, what: str = "data") -> pd.DataFrame:
    """Accept a pandas DataFrame, a dict of equal-length columns, or anything with ``to_pandas()``
    (polars, pyarrow); refuse the rest with a message that says what is accepted."""
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, dict):
        try:
            frame = pd.DataFrame(data)
        except (ValueError, TypeError) as err:
            raise DataError(f"{what} is a dict that does not convert to a table ({err}); "
                            "pass a pandas DataFrame or a dict of equal-length columns.") from None
    elif hasattr(data, "to_pandas"):
        try:
            frame = data.to_pandas()
        except Exception as err:  # noqa: BLE001 - a foreign library's failure, re-raised with context
            raise DataError(f"{what} could not be converted with .to_pandas(): {err}.") from None
    else:
        raise DataError(f"{what} must be a pandas DataFrame (or a dict of columns, or a polars/pyarrow "
                        f"table), not {type(data).__name__}.")
    if frame.columns.duplicated().any():
        dup = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise DataError(f"{what} has duplicated column names {dup}; rename them so each is unique.")
    if len(frame) == 0:
        raise DataError(f"{what} has no rows.")
    return frame


def _check_columns(frame: pd.DataFrame, variables, formula: str) -> None:
    for name in variables:
        if name not in frame.columns:
            where = formula.find(name)
            pos = f" (at position {where} of the formula)" if where >= 0 else ""
            literal = (f" In a formula, {name} outside a call names a column, as `{name}` does; remove the term "
                       "if a constant was meant." if name in ("True", "False", "None") else "")
            raise DataError(f"Column '{name}'{pos} is not in the data.{closest(name, frame.columns)}{literal} "
                            f"Available columns: {', '.join(map(str, frame.columns))}.")


#: magnitude above which squares overflow float64 (1e308): such columns must be rescaled
_LARGEST = 1e150


def _column_problem(series: pd.Series) -> str | None:
    """Why a column cannot enter a model matrix (complex, dates, lists, mixed objects), or None."""
    dtype = series.dtype
    if pd.api.types.is_complex_dtype(dtype):
        return "holds complex numbers; use its real part (.real) or its modulus (abs()) as a column"
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return ("holds dates; turn them into numbers first, e.g. days since the start: "
                "(d - d.min()).dt.days, or into a categorical with .astype(str)")
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "holds time spans; turn them into numbers first, e.g. .dt.total_seconds()"
    if dtype == object:
        kinds = {type(v).__name__ for v in series.dropna()
                 if not isinstance(v, (str, bool, int, float, np.number, np.bool_))}
        if kinds:
            return (f"holds Python objects of type {', '.join(sorted(kinds))}; a column must hold numbers "
                    "or strings")
        has_text = any(isinstance(v, str) for v in series.dropna())
        has_number = any(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in series.dropna())
        if has_text and has_number:
            return ("mixes strings and numbers; convert it with pd.to_numeric(column, errors='coerce') for a "
                    "number or .astype(str) for a factor")
    return None


def check_column_types(frame: pd.DataFrame, names, what: str = "data") -> None:
    """Refuse columns that no formula term can use (complex numbers, dates, lists, mixed strings and
    numbers), naming the column: formulae would otherwise fail with an unrelated message or, for complex
    numbers, drop the imaginary part silently."""
    for name in names:
        problem = _column_problem(frame[name])
        if problem:
            raise DataError(f"Column '{name}' of {what} {problem}.")


def used_categories(series: pd.Series) -> pd.Series:
    """A categorical column without the categories no row holds; the column itself when every one is used (a
    count of the codes, where pandas' ``remove_unused_categories`` sorts them: 0.1 s per million rows)."""
    codes = series.cat.codes.to_numpy()
    if np.bincount(codes[codes >= 0], minlength=len(series.cat.categories)).all():
        return series
    return series.cat.remove_unused_categories()


def _plain_column(series: pd.Series) -> pd.Series:
    """Nullable pandas dtypes (Int64, boolean, Float64) -> numpy dtypes, after missing rows are gone."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return used_categories(series)
    if dtype == object and all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
                               for v in series):
        return pd.to_numeric(series)  # numbers stored as Python objects (e.g. a column once holding None)
    if pd.api.types.is_extension_array_dtype(dtype) and not pd.api.types.is_string_dtype(dtype):
        if pd.api.types.is_bool_dtype(dtype):
            return series.astype(bool)
        if pd.api.types.is_numeric_dtype(dtype):
            return series.astype(float if pd.api.types.is_float_dtype(dtype) else np.int64)
    return series


def prepare_data(data, variables, formula: str, na_action: str = "omit") -> CleanData:
    """Select the formula's columns, drop (or refuse) incomplete rows and check for infinite values."""
    if na_action not in ("omit", "error"):
        raise DataError(f"na_action must be 'omit' or 'error', not {na_action!r}.")
    frame = as_dataframe(data)
    _check_columns(frame, variables, formula)
    used = frame[list(variables)]
    check_column_types(used, variables)
    for name in variables:
        if used[name].isna().all():
            raise DataError(f"Column '{name}' is entirely missing; it cannot be used in the formula. Remove it "
                            "from the formula, or check that the data were read correctly.")
    missing = used.isna()
    incomplete = missing.any(axis=1)
    dropped = {str(c): int(missing[c].sum()) for c in used.columns if missing[c].any()}
    if incomplete.any():
        detail = ", ".join(f"{c} ({k})" for c, k in dropped.items())
        if na_action == "error":
            raise DataError(f"{int(incomplete.sum())} rows have missing values in {detail}; "
                            "remove or impute them, or use na_action='omit'.")
        warnings.warn(f"Dropped {int(incomplete.sum())} of {len(used)} rows with missing values "
                      f"(missing per column: {detail}).", BayesMMWarning, stacklevel=3)
    kept = used.loc[~incomplete.to_numpy()]
    if len(kept) == 0:
        raise DataError(f"No complete rows remain after dropping missing values (missing per column: {detail}). "
                        "Remove the terms that use the most incomplete columns, or impute their missing values.")
    kept = kept.apply(_plain_column)
    for name in kept.columns:
        column = kept[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            infinite = ~np.isfinite(column.to_numpy(dtype=float))
            if infinite.any():
                rows = list(kept.index[infinite][:5])
                raise DataError(f"Column '{name}' has {int(infinite.sum())} infinite values (rows {rows}); "
                                "remove them or replace them with missing values.")
            largest = float(np.max(np.abs(column.to_numpy(dtype=float))))
            if largest > _LARGEST:
                raise DataError(f"Column '{name}' has values as large as {largest:.3g}: squares and variances of "
                                f"such numbers overflow. Rescale it (e.g. divide by 1e{int(np.log10(largest))}).")
    return CleanData(kept.reset_index(drop=True), kept.index, int(incomplete.sum()), dropped)


def frequency_weights(frame: pd.DataFrame, column: str | None, row_labels) -> np.ndarray | None:
    """Frequency weights: each row counts ``w`` times in the likelihood (brms's ``weights()``)."""
    if column is None:
        return None
    values = frame[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise DataError(f"The weights column '{column}' must be numeric (dtype {values.dtype}).")
    w = values.to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if len(bad):
        rows = [row_labels[i] for i in bad[:5]]
        raise DataError(f"The weights column '{column}' has {len(bad)} negative or non-finite values (first rows: "
                        f"{rows}); frequency weights must be >= 0.")
    if not np.any(w > 0):
        raise DataError(f"All weights in '{column}' are zero: no row would count.")
    return w

