"""Censored and truncated responses (brms's ``cens()`` and ``trunc()`` addition terms) -> :class:`ResponseBounds`.

``y | cens(censored)``: the column says per row how ``y`` was observed, as brms codes it: ``"none"`` (0, or
False) exactly; ``"left"`` (-1) only that the value is at most ``y`` (a detection limit); ``"right"`` (1, or
True) only that it is above ``y`` (still alive at the end of follow-up); ``"interval"`` (2) that it lies between
``y`` and the upper end ``y2`` of ``cens(censored, y2)``. ``y | trunc(lb = 0, ub = 10)``: values outside
``[lb, ub]`` could never be observed (constants or columns; either bound may be left out). The likelihood
terms, as brms's Stan code writes them (``bayesmm.model.censoring``):

* continuous families: left ``P(Y <= y)``, right ``P(Y > y)``, interval ``P(y < Y <= y2)``; truncation
  divides by ``P(lb < Y <= ub)``;
* count families: left ``P(Y <= y)``, right ``P(Y > y)`` (Stan's ``lccdf``, so a count right-censored at ``y``
  is at least ``y + 1``), interval ``P(y < Y <= y2)``; truncation to the whole numbers ``lb .. ub`` divides by
  ``P(lb - 1 < Y <= ub)``;
* censoring and truncation together: a censored row's interval is cut to the truncation range (left-censored
  with ``lb``: ``P(lb < Y <= y)``), where brms keeps ``P(Y <= y)``, which is not a probability of the
  truncated distribution.

This module reads the addition terms on the data (the design stage) and checks them against the family
(:func:`check_bounds`, called with the family): every bad row is named, never dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import DataError, FamilyError
from .families import check_response

__all__ = ["ResponseBounds", "response_bounds", "check_family", "check_bounds", "CENSORABLE", "CODES"]

#: families whose likelihood takes cens() and trunc() (their log CDFs are in bayesmm.model.cdfs)
CENSORABLE = ("gaussian", "student_t", "lognormal", "gamma", "weibull", "exponential", "poisson", "negbinomial",
              "nbinom1")
#: the censoring codes, as brms writes them
CODES = {"none": 0, "left": -1, "right": 1, "interval": 2}
_DISCRETE = ("count",)


@dataclass(frozen=True)
class ResponseBounds:
    """Per row: ``code`` (-1 left, 0 none, 1 right, 2 interval; None without ``cens()``), the upper ends
    ``y2`` (None without them) and the truncation bounds ``lb``/``ub`` (None without ``trunc()``; ``-inf``/``inf``
    where a side is open). ``censoring``, ``upper``, ``lower_limit``, ``upper_limit``: the expressions as the
    formula writes them, for messages."""

    code: np.ndarray | None
    y2: np.ndarray | None
    lb: np.ndarray | None
    ub: np.ndarray | None
    censoring: str = ""
    upper: str = ""
    lower_limit: str = ""
    upper_limit: str = ""

    @property
    def truncated(self) -> bool:
        return self.lb is not None

    def intervals(self, y: np.ndarray, discrete: bool, lower_support: float):
        """``(exact, lower, upper, trunc_lower, trunc_upper)``: rows observed exactly, and for the others the
        interval ``(lower, upper]`` the value lies in, cut to the truncation range ``(trunc_lower,
        trunc_upper]`` (None without truncation; ``(lb - 1, ub]`` for counts). Bounds at or below
        ``lower_support`` (where the family has no mass) become ``-inf``."""
        n = len(y)
        code = np.zeros(n, dtype=int) if self.code is None else self.code
        y2 = np.full(n, np.inf) if self.y2 is None else self.y2
        t_lower = np.full(n, -np.inf) if self.lb is None else self.lb - (1.0 if discrete else 0.0)
        t_upper = np.full(n, np.inf) if self.ub is None else self.ub
        lower = np.select([code == -1, code == 1, code == 2], [t_lower, y, y], -np.inf)
        upper = np.select([code == -1, code == 1, code == 2], [y, t_upper, np.minimum(y2, t_upper)], np.inf)
        lower = np.where(code == 0, -np.inf, np.maximum(lower, t_lower))

        def open_below(value):
            return np.where(value <= lower_support, -np.inf, value)

        truncation = (open_below(t_lower), t_upper) if self.truncated else None
        return code == 0, open_below(lower), upper, truncation


def _rows(bad: np.ndarray, row_labels) -> list:
    return [row_labels[i] if row_labels is not None else i for i in np.flatnonzero(bad)[:5]]


def _codes(values: np.ndarray, column: str, row_labels) -> np.ndarray:
    """brms's codes from strings (any case), numbers -1/0/1/2 or booleans (True: right-censored)."""
    if values.dtype == bool:
        return values.astype(int)
    if np.issubdtype(values.dtype, np.number):
        numbers = values.astype(float)
        bad = ~np.isin(numbers, (-1.0, 0.0, 1.0, 2.0))
        code = np.where(bad, 0, numbers).astype(int)
    else:
        text = pd.Series(values).astype(str).str.strip().str.lower().to_numpy()
        bad = ~np.isin(text, list(CODES))
        code = np.array([CODES.get(t, 0) for t in text], dtype=int)
    if np.any(bad):
        seen = sorted({str(v) for v in values[bad]})[:5]
        raise DataError(f"The censoring column '{column}' has {int(bad.sum())} rows with unknown codes {seen} (first "
                        f"rows: {_rows(bad, row_labels)}). Use 'none', 'left', 'right' or 'interval' (or brms's 0, -1, "
                        "1, 2; True for right-censored).")
    return code


def _number_column(expr: str | None, frame: pd.DataFrame, what: str, row_labels, evaluate, open_end=np.inf):
    if expr is None:
        return np.full(len(frame), open_end)
    values = np.asarray(evaluate(expr, frame, what))
    if not np.issubdtype(values.dtype, np.number) or values.dtype == bool:
        raise DataError(f"The {what} '{expr}' must hold numbers (dtype {values.dtype}).")
    values = values.astype(float)
    bad = np.isnan(values)
    if np.any(bad):
        raise DataError(f"The {what} '{expr}' has {int(bad.sum())} missing or NaN values (first rows: "
                        f"{_rows(bad, row_labels)}); give every row a value.")
    return values


def _check(bad: np.ndarray, message: str, row_labels) -> None:
    if np.any(bad):
        raise DataError(message.format(n=int(bad.sum()), rows=_rows(bad, row_labels)))


def response_bounds(response, frame: pd.DataFrame, y, row_labels, evaluate) -> ResponseBounds | None:
    """The :class:`ResponseBounds` of ``response``'s ``cens()`` and ``trunc()`` terms on ``frame`` (None without
    them), checked against the response ``y``; ``evaluate(expr, frame, what)`` evaluates an expression."""
    additions = {name: dict(args) for name, args in response.additions if name in ("cens", "trunc")}
    if not additions:
        return None
    y = np.asarray(y)
    if not np.issubdtype(y.dtype, np.number) or y.dtype == bool:
        raise DataError(f"A censored or truncated response must be numeric; '{response.text}' is {y.dtype}.")
    y = y.astype(float)
    cens, trunc = additions.get("cens"), additions.get("trunc", {})
    code = y2 = None
    if cens is not None:
        code = _codes(np.asarray(evaluate(cens["x"], frame, "censoring column")), cens["x"], row_labels)
        interval = code == 2
        if "y2" in cens:
            y2 = _number_column(cens["y2"], frame, "upper end of interval censoring", row_labels, evaluate)
            _check(interval & (y2 <= y), f"Interval censoring needs the upper end '{cens['y2']}' above the response "
                   f"'{response.text}', but {{n}} interval-censored rows have it at or below (first rows: {{rows}}). "
                   "Swap the two columns if they are reversed.", row_labels)
        else:
            _check(interval, f"The censoring column '{cens['x']}' marks {{n}} rows as interval-censored (first rows: "
                   f"{{rows}}) but cens() has no upper end: write cens({cens['x']}, y2) with the column of upper ends.",
                   row_labels)
    lb = ub = None
    if trunc:
        lb = _number_column(trunc.get("lb"), frame, "lower truncation bound", row_labels, evaluate, -np.inf)
        ub = _number_column(trunc.get("ub"), frame, "upper truncation bound", row_labels, evaluate)
        written = f"[{trunc.get('lb', '-inf')}, {trunc.get('ub', 'inf')}]"
        _check(lb >= ub, f"trunc() needs lb below ub, but {{n}} rows have lb >= ub in {written} (first rows: "
               "{rows}).", row_labels)
        _check((y < lb) | (y > ub), f"The response '{response.text}' lies outside the truncation bounds {written} "
               "in {n} rows (first rows: {rows}): a truncated response is never observed outside them. Check the "
               "bounds, or drop those rows.", row_labels)
        if y2 is not None:
            _check((code == 2) & (y2 > ub), f"The upper end '{cens['y2']}' of {{n}} interval-censored rows lies "
                   "above the upper truncation bound (first rows: {rows}).", row_labels)
        if code is not None:
            _check(((code == -1) & (y <= lb)) | ((code == 1) & (y >= ub)), "{n} censored rows leave no room "
                   "inside the truncation bounds (left-censored at or below lb, or right-censored at or above ub; "
                   "first rows: {rows}).", row_labels)
    return ResponseBounds(code, y2, lb, ub, cens["x"] if cens else "", (cens or {}).get("y2", ""),
                          trunc.get("lb", ""), trunc.get("ub", ""))


def check_family(family, response) -> None:
    """Refuse ``cens()``/``trunc()`` (in ``response``, a :class:`~bayesmm.formula.ResponseSpec`) with a family
    that does not take them, before any column is read."""
    used = [f"{name}()" for name, _ in response.additions if name in ("cens", "trunc")]
    if used and family.name not in CENSORABLE:
        what = " and ".join(used)
        raise FamilyError(f"Family '{family.name}' does not take {what} on the response: censoring and truncation "
                          f"need its CDF, which bayesmm has for {', '.join(CENSORABLE)}. Choose one of those families "
                          f"or remove {what} from the formula.")


def check_bounds(family, y, bounds: ResponseBounds | None, row_labels=None) -> None:
    """Refuse upper ends of interval censoring outside the family's support and truncation bounds of counts that
    are not whole numbers (the family itself is checked by :func:`check_family`)."""
    if bounds is None:
        return
    if bounds.y2 is not None:
        interval = bounds.code == 2
        check_response(family, np.where(interval, bounds.y2, np.asarray(y, dtype=float)), None, bounds.upper,
                       row_labels)
    if family.response in _DISCRETE and bounds.truncated:
        for values, text in ((bounds.lb, bounds.lower_limit), (bounds.ub, bounds.upper_limit)):
            finite = np.isfinite(values)
            _check(finite & (values != np.round(values)), f"Family '{family.name}' takes whole-number truncation "
                   f"bounds, but '{text}' has {{n}} rows that are not (first rows: {{rows}}).", row_labels)
