"""Autocorrelated residuals of gaussian models (the R side, nlme's ``correlation = corAR1(form = ~ time | g)``):
``autocor="ar1(time | g)"`` read against the data into an :class:`Autocor` record on the design.

Within each level of ``g`` the residuals follow a stationary AR(1) process with SD sigma and correlation ``rho``
between successive times: ``cor(e_s, e_t) = rho^|t - s|``.

* ``ar1(time | g)``: ``time`` holds whole numbers; a missing time (a step the data skip, or a row dropped for a
  missing value) is a missing step of the process, so rows two steps apart correlate by ``rho^2``, as nlme's
  ``corAR1`` with an integer covariate. ``rho`` is in (-1, 1).
* ``ar1(~ 1 | g)`` or ``ar1(1 | g)``: the rows' order within ``g`` (nlme's ``corAR1(form = ~ 1 | g)``).
* ``car1(time | g)``: numeric times at any spacing, ``cor = rho^|dt|`` with ``rho`` in (0, 1) the correlation one
  time unit apart (nlme's ``corCAR1``; glmmTMB's ``ou`` with ``rho = exp(-1 / ell)``).
* Without ``| g`` the rows are one series.

The record holds, per row, its predecessor in its series (-1 for a series' first row) and the time step to it:
the residual's precision matrix is tridiagonal, so the model whitens the residuals (``e_t - rho^d e_prev``) in
O(rows) (:mod:`bayesmm.model.autocor`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataError, FamilyError, FormulaError, PriorError, closest

__all__ = ["Autocor", "residual_autocor", "parse_autocor", "autocor_prior", "STRUCTURES", "AUTOCOR_CLASS"]

#: residual structures: what each one's parameter means
STRUCTURES = {"ar1": "the correlation of residuals one time step apart, in (-1, 1)",
              "car1": "the correlation of residuals one time unit apart, in (0, 1)"}
#: the prior class of the residual autocorrelation (brms's ``class = ar``)
AUTOCOR_CLASS = "ar"

_SYNTAX = re.compile(r"\s*(\w+)\s*\(\s*(?:~\s*)?([^|()]*?)\s*(?:\|\s*([^|()]*?)\s*)?\)\s*")


@dataclass(frozen=True, eq=False)
class Autocor:
    """A residual correlation structure read against the data: ``structure`` (``ar1``, ``car1``), the ``time`` and
    ``group`` columns (None: row order, one series), and per row its ``previous`` row in its series (-1 for a
    series' first row) and the time ``step`` to it (0 for first rows)."""

    text: str
    structure: str
    time: str | None
    group: str | None
    previous: np.ndarray
    step: np.ndarray
    n_series: int

    @property
    def parameter(self) -> str:
        """The parameter's name everywhere (``ar1__rho``, :func:`bayesmm.naming.autocor`)."""
        return f"{self.structure}__rho"

    @property
    def steps(self) -> np.ndarray:
        """The distinct time steps between successive rows."""
        return np.unique(self.step[self.previous >= 0])


def parse_autocor(text) -> tuple[str, str | None, str | None]:
    """``(structure, time column or None, group column or None)`` of ``"ar1(time | g)"``."""
    if not isinstance(text, str):
        raise FormulaError(f"autocor= takes a string such as 'ar1(time | g)' or 'ar1(~ 1 | g)', not {text!r}.")
    match = _SYNTAX.fullmatch(text)
    if not match:
        raise FormulaError(f"Cannot read autocor='{text}': write it as 'ar1(time | g)' (whole-number times), "
                           "'ar1(~ 1 | g)' (the rows' order within g) or 'car1(time | g)' (numeric times).")
    structure, time, group = match.group(1), match.group(2) or None, match.group(3) or None
    if structure not in STRUCTURES:
        hint = " For unequally spaced numeric times use car1(time | g)." if structure in ("ou", "exp") else ""
        raise FormulaError(f"autocor='{text}': unknown residual structure '{structure}'.{closest(structure, STRUCTURES)}"
                           f"{hint} Structures: {', '.join(STRUCTURES)}.")
    if time in ("1", None) and structure == "car1":
        raise FormulaError(f"autocor='{text}': car1 needs a time column, e.g. car1(time | g).")
    if group is not None and not re.fullmatch(r"[\w.]+", group):
        raise FormulaError(f"autocor='{text}': the grouping must be one column name, not '{group}'.")
    return structure, None if time == "1" else time, group


def _column(frame: pd.DataFrame, name: str, text: str) -> pd.Series:
    if name not in frame.columns:
        raise DataError(f"autocor='{text}': column '{name}' is not in the data.{closest(name, frame.columns)} "
                        f"Available columns: {', '.join(map(str, frame.columns))}.")
    return frame[name]


def _rows(labels, rows) -> str:
    shown = [str(labels[r]) for r in rows[:5]]
    return ", ".join(shown) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def _times(frame, time: str | None, structure: str, text: str, labels) -> np.ndarray:
    if time is None:
        return np.arange(len(frame), dtype=float)
    column = _column(frame, time, text)
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise DataError(f"autocor='{text}': the time column '{time}' must hold numbers (it is {column.dtype}).")
    values = column.to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise DataError(f"autocor='{text}': the time column '{time}' has missing or infinite values in rows "
                        f"{_rows(labels, bad)}; fill them in or drop those rows.")
    if structure == "ar1":
        fractional = np.flatnonzero(values != np.round(values))
        if fractional.size:
            raise DataError(f"autocor='{text}': ar1 needs whole-number times (equally spaced steps), but '{time}' "
                            f"holds {values[fractional[0]]:g} in row {labels[fractional[0]]}. Use car1({time} | ...) "
                            "for numeric times at any spacing, or ar1(~ 1 | ...) for the rows' order.")
    return values


def _groups(frame, group: str | None, text: str, labels) -> np.ndarray:
    if group is None:
        return np.zeros(len(frame), dtype=np.int64)
    column = _column(frame, group, text)
    missing = np.flatnonzero(column.isna().to_numpy())
    if missing.size:
        raise DataError(f"autocor='{text}': the grouping column '{group}' has missing values in rows "
                        f"{_rows(labels, missing)}.")
    return pd.factorize(column, sort=True)[0].astype(np.int64)


def _check_model(design, family, text: str) -> None:
    if family.name != "gaussian":
        raise FamilyError(f"autocor='{text}' (autocorrelated residuals) is only for the gaussian family, whose "
                          f"residuals it integrates exactly; this model is {family.name}. For a {family.name} "
                          "model put the autocorrelation in a random-effect term instead, e.g. ar1(time + 0 | g).")
    if design.weights is not None:
        raise DataError(f"autocor='{text}' cannot be combined with frequency weights: a weighted row stands for "
                        "several rows at the same time. Expand the rows instead.")
    if design.bounds is not None:
        raise DataError(f"autocor='{text}' cannot be combined with a censored or truncated response.")


def _frame_rows(data: pd.DataFrame, design, text: str) -> pd.DataFrame:
    """The data's rows the design kept, in its order."""
    if not design.n_dropped:
        return data
    if not data.index.is_unique:
        raise DataError(f"autocor='{text}': rows were dropped for missing values and the data's index has "
                        "duplicated labels, so the kept rows cannot be matched; reset the index (df.reset_index()).")
    return data.loc[design.row_labels]


def residual_autocor(text, data: pd.DataFrame, design, family) -> Autocor | None:
    """The :class:`Autocor` of ``text`` on the design's rows (None without ``autocor=``)."""
    if text is None:
        return None
    structure, time, group = parse_autocor(text)
    _check_model(design, family, text)
    frame = _frame_rows(data, design, text)
    labels = np.asarray(design.row_labels if design.row_labels is not None else np.arange(design.n_obs))
    times, series = _times(frame, time, structure, text, labels), _groups(frame, group, text, labels)
    order = np.lexsort((times, series))
    same = series[order][1:] == series[order][:-1]
    steps = np.diff(times[order]) if time is not None else np.ones(len(order) - 1)  # row order: one step each
    duplicated = np.flatnonzero(same & (steps == 0))
    if duplicated.size:
        first, second = order[duplicated[0]], order[duplicated[0] + 1]
        where = f" in {group} = {frame[group].iloc[first]}" if group else ""
        raise DataError(f"autocor='{text}': rows {labels[first]} and {labels[second]} have the same time "
                        f"{times[first]:g}{where} ({duplicated.size} such pairs); each series needs one row per time.")
    previous = np.full(len(times), -1, dtype=np.int64)
    step = np.zeros(len(times))
    previous[order[1:][same]] = order[:-1][same]
    step[order[1:][same]] = steps[same]
    return Autocor(text.strip(), structure, time, group, previous, step, int(series.max()) + 1)


def autocor_prior(spec, structure: str, where: str):
    """``spec`` if it is a prior for ``structure``'s rho: ``uniform(low, high)`` inside its range ((-1, 1) for ar1,
    (0, 1) for car1), which keeps the process stationary."""
    low = -1.0 if structure == "ar1" else 0.0
    if spec.dist == "uniform" and spec.args[0] >= low and spec.args[1] <= 1.0:
        return spec
    raise PriorError(f"{where}: '{spec}' does not fit {structure}'s rho, {STRUCTURES[structure]}; give "
                     f"uniform(a, b) with {low:g} <= a < b <= 1 (default uniform({low:g}, 1)).")
