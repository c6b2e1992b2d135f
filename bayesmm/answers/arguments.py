"""Checks of the arguments the answers share, each with one message that names the argument and its value."""
from __future__ import annotations

import numbers

import numpy as np

from ..errors import BayesMMError

__all__ = ["check_prob", "check_interval", "draw_index"]


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


def draw_index(fit, draws) -> np.ndarray:
    """Indices into the flattened (chain x draw) posterior: all, or ``draws`` evenly spaced ones (every answer that takes
    ``draws=`` selects them this way)."""
    post = fit.idata.posterior
    total = post.sizes["chain"] * post.sizes["draw"]
    if draws is None:
        return np.arange(total)
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise BayesMMError(f"draws must be a positive whole number (or None for all {total}), not {draws!r}.")
    return np.unique(np.linspace(0, total - 1, min(int(draws), total)).round().astype(int))
