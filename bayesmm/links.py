"""The link functions: one :class:`Link` record per name, read by the families, the model and predictions.

A link ``g`` maps a family's mean to the linear predictor ``eta = g(mu)``. Each record holds ``g`` (numpy, for
the intercept prior's location) and its inverse written once against an array namespace (:class:`ArrayOps`):
:data:`NUMPY_INVERSE_LINKS` is its numpy view (predictions), ``bayesmm.model.means.INVERSE_LINKS`` its jax
view (the log density), so this module imports no jax.

>>> float(NUMPY_INVERSE_LINKS["logit"](0.0))
0.5
>>> LINKS["sqrt"].mean_range
'non-negative'
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special

__all__ = ["Link", "LINKS", "ArrayOps", "NUMPY", "inverse_links", "NUMPY_INVERSE_LINKS"]


@dataclass(frozen=True)
class ArrayOps:
    """The array functions the inverse links use, from one array library (numpy with scipy, or jax)."""

    exp: Callable
    expm1: Callable
    square: Callable
    expit: Callable
    ndtr: Callable


NUMPY = ArrayOps(np.exp, np.expm1, np.square, special.expit, special.ndtr)


def _probit(p):
    from scipy.stats import norm

    return norm.ppf(p)


@dataclass(frozen=True)
class Link:
    """One link. ``link(mu)``: ``g`` in numpy; ``inverse(ops, eta)``: ``g^-1`` with the functions of ``ops``;
    ``mean_range``: the values ``g^-1`` takes over the real line (``real``, ``positive``, ``non-negative``,
    ``unit`` for (0, 1)): a family whose mean must be positive needs a guard with any link but ``positive``
    and ``unit`` ones."""

    name: str
    link: Callable
    inverse: Callable
    mean_range: str


LINKS = {record.name: record for record in (
    Link("identity", lambda mu: mu, lambda ops, eta: eta, "real"),
    Link("log", np.log, lambda ops, eta: ops.exp(eta), "positive"),
    Link("logit", lambda p: np.log(p) - np.log1p(-p), lambda ops, eta: ops.expit(eta), "unit"),
    Link("probit", _probit, lambda ops, eta: ops.ndtr(eta), "unit"),
    Link("cloglog", lambda p: np.log(-np.log1p(-p)), lambda ops, eta: -ops.expm1(-ops.exp(eta)), "unit"),
    Link("inverse", lambda mu: 1.0 / mu, lambda ops, eta: 1.0 / eta, "real"),
    Link("sqrt", np.sqrt, lambda ops, eta: ops.square(eta), "non-negative"),
)}


def inverse_links(ops: ArrayOps) -> dict:
    """Link name -> ``g^-1(eta)`` computed with the functions of ``ops``."""
    return {name: functools.partial(record.inverse, ops) for name, record in LINKS.items()}


#: Link name -> ``g^-1`` on numpy arrays.
NUMPY_INVERSE_LINKS = inverse_links(NUMPY)
