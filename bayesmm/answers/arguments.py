"""Checks of the arguments the answers share, each with one message that names the argument and its value."""
from __future__ import annotations

import numbers

from ..errors import BayesMMError

__all__ = ["check_prob", "check_interval"]


def check_prob(prob, argument: str = "prob") -> float:
    """``prob`` as a float when it is a probability strictly between 0 and 1 (a credible interval's mass);
    otherwise a :class:`~bayesmm.errors.BayesMMError` naming ``argument`` and the value.

    >>> check_prob(0.9)
    0.9
    """
    number = isinstance(prob, numbers.Real) and not isinstance(prob, bool)
    if not number or not 0 < prob < 1:
        shown = str(prob) if number else repr(prob)
        raise BayesMMError(f"{argument} must be a number strictly between 0 and 1 (e.g. 0.95), not {shown}.")
    return float(prob)


def check_interval(interval) -> str:
    """``interval`` when it names a kind of credible interval: ``"eti"`` (equal-tailed) or ``"hdi"`` (highest
    density); otherwise a :class:`~bayesmm.errors.BayesMMError`."""
    if interval not in ("eti", "hdi"):
        raise BayesMMError(f"interval must be 'eti' (equal-tailed) or 'hdi' (highest density), not {interval!r}.")
    return interval
