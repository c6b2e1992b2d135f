"""Exceptions and warnings raised by bayesmm.

Every error a user can provoke is a :class:`BayesMMError`; each pipeline stage has its own subclass so
that callers can catch one stage's failures.  Messages name the culprit (column, term, level, position in
the formula) and say what to do.  Errors from jax, numpyro, formulae or pandas are caught at the stage
boundary and re-raised as one of these with context.
"""
from __future__ import annotations

import difflib

__all__ = [
    "BayesMMError",
    "FormulaError",
    "DataError",
    "FamilyError",
    "PriorError",
    "SamplerError",
    "BayesMMWarning",
    "closest",
]


class BayesMMError(Exception):
    """Base class of every error bayesmm raises on purpose."""


class FormulaError(BayesMMError, ValueError):
    """The formula string cannot be parsed or does not fit the data."""

    def __init__(self, message: str, formula: str | None = None, position: int | None = None):
        self.formula = formula
        self.position = position
        if formula is not None and position is not None:
            caret = " " * position + "^"
            message = f"{message}\n  {formula}\n  {caret}"
        super().__init__(message)


class DataError(BayesMMError, ValueError):
    """The data cannot be used with the formula (missing column, bad values, too few levels)."""


class FamilyError(BayesMMError, ValueError):
    """Unknown family or link, or a response outside the family's support."""


class PriorError(BayesMMError, ValueError):
    """A prior that cannot be parsed, has bad arguments, or names a parameter the model lacks."""


class SamplerError(BayesMMError, ValueError):
    """Bad sampler settings, or the sampler failed."""


class BayesMMWarning(UserWarning):
    """Dropped rows, separation, convergence problems: things a user must know but that do not stop a fit."""


def closest(name: str, candidates) -> str:
    """' Did you mean 'x'?' for the closest candidate, or '' when nothing is close."""
    match = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""
