"""Complete and quasi-complete separation in binary and binomial models, found before sampling.

Under separation some linear combination of the fixed-effect columns splits successes from failures, and
the maximum-likelihood estimate of the coefficients involved is infinite (Albert and Anderson 1984). The
check is the linear program of Konis (2007) that the R package detectseparation runs: with one sign per
observation (+1 for a success, -1 for a failure; a binomial row with both contributes both), separation
exists when a direction ``beta != 0`` has ``sign_i * x_i' beta >= 0`` for every row. For each coefficient we
maximise and minimise ``beta_j`` in the box ``|beta| <= 1`` under those constraints: a non-zero optimum
means ``beta_j`` runs to +/- infinity. Separation is complete when some direction makes every inequality
strict. The GLMM FAQ's answer is a prior (blme, brms, arm::bayesglm): the default normal(0, 2.5 s_y / s_x)
keeps these coefficients finite; a flat prior leaves the posterior improper, so :meth:`Model.fit` refuses it.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from .design import Design
from .errors import BayesMMWarning, PriorError
from .families import Family

__all__ = ["Separation", "detect_separation", "check_separation", "refuse_flat_priors"]

_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Separation:
    """What the check found: ``kind`` (``"complete"``, ``"quasi-complete"`` or ``""``), the coefficients
    whose maximum-likelihood estimate is infinite with the direction (+1 or -1), and one sentence each
    naming the column and level."""

    kind: str = ""
    directions: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.kind)


def _signed_rows(X: np.ndarray, y: np.ndarray, trials, weights) -> np.ndarray:
    """``sign_i * x_i`` for each (row, outcome) present, duplicates removed."""
    keep = np.ones(len(y), bool) if weights is None else np.asarray(weights) > 0
    successes = y > 0
    failures = (y < trials) if trials is not None else (y < 1)
    rows = np.vstack([X[keep & successes], -X[keep & failures]])
    return np.unique(np.round(rows, 12), axis=0)


def _extreme(A: np.ndarray, j: int, sense: int) -> float:
    """max (sense = 1) or min (sense = -1) of beta_j subject to A beta >= 0 and |beta| <= 1."""
    p = A.shape[1]
    cost = np.zeros(p)
    cost[j] = -sense
    result = linprog(cost, A_ub=-A, b_ub=np.zeros(len(A)), bounds=[(-1, 1)] * p, method="highs")
    return float(-result.fun * sense) if result.status == 0 else 0.0


def _separated(A: np.ndarray) -> bool:
    """Konis's single LP: max sum(A beta) subject to A beta >= 0, |beta| <= 1 is positive exactly when some
    direction separates (with X of full rank, A beta = 0 only at beta = 0)."""
    p = A.shape[1]
    result = linprog(-A.sum(axis=0), A_ub=-A, b_ub=np.zeros(len(A)), bounds=[(-1, 1)] * p, method="highs")
    return result.status == 0 and -result.fun > _TOLERANCE * len(A)


def _complete(A: np.ndarray) -> bool:
    """Is there a direction with every inequality strict? max t subject to A beta >= t, |beta| <= 1."""
    p = A.shape[1]
    cost = np.zeros(p + 1)
    cost[-1] = -1.0
    A_ub = np.hstack([-A, np.ones((len(A), 1))])
    result = linprog(cost, A_ub=A_ub, b_ub=np.zeros(len(A)), bounds=[(-1, 1)] * p + [(0, 1)], method="highs")
    return result.status == 0 and -result.fun > _TOLERANCE


def detect_separation(X: np.ndarray, names, y: np.ndarray, trials=None, weights=None) -> Separation:
    """Run the linear programs on a fixed-effects matrix ``X`` (columns ``names``) and a 0/1 or binomial
    response (``y`` successes of ``trials``)."""
    X = np.asarray(X, dtype=float)
    scale = np.where(np.abs(X).max(axis=0) > 0, np.abs(X).max(axis=0), 1.0)
    A = _signed_rows(X / scale, np.asarray(y, float), trials, weights)
    if not _separated(A):
        return Separation()
    directions = {}
    for j, name in enumerate(names):
        if _extreme(A, j, 1) > _TOLERANCE:
            directions[str(name)] = 1
        elif _extreme(A, j, -1) < -_TOLERANCE:
            directions[str(name)] = -1
    if not directions:
        return Separation()
    kind = "complete" if _complete(A) else "quasi-complete"
    details = {name: _describe(name, sign, X[:, list(names).index(name)], y, trials)
               for name, sign in directions.items()}
    return Separation(kind, directions, details)


def _describe(name: str, sign: int, column: np.ndarray, y: np.ndarray, trials) -> str:
    """'period[4] (column 'period' at level '4'): all 12 rows with it are successes; estimate -> +infinity'."""
    levels = re.findall(r"([^\[\]:]+)\[([^\]]+)\]", name)
    where = " and ".join(f"column '{c}' at level '{v}'" for c, v in levels) if levels else f"column '{name}'"
    text = f"{name} ({where})"
    on = column != 0
    if levels and set(np.unique(column)) <= {0.0, 1.0} and on.any():
        n = trials[on] if trials is not None else np.ones(on.sum())
        if np.all(y[on] == n):
            text += f": all {int(on.sum())} rows with it are successes"
        elif np.all(y[on] == 0):
            text += f": all {int(on.sum())} rows with it are failures"
    return f"{text}; its maximum-likelihood estimate runs to {'+' if sign > 0 else '-'}infinity"


def check_separation(design: Design, family: Family, entries) -> Separation:
    """For bernoulli/binomial models: detect separation and warn, naming the columns and levels and what
    the prior in effect does about it. Other families: an empty :class:`Separation`."""
    if family.response not in ("binary", "binomial") or design.X.shape[1] == 0:
        return Separation()
    found = detect_separation(design.X, design.fixed_names, design.y, design.trials, design.weights)
    if found:
        priors = {e.coef or e.cls: e.prior for e in entries if e.cls in ("b", "Intercept")}
        lines = []
        for name, detail in found.details.items():
            spec = priors.get(name)
            effect = ("a flat prior leaves the posterior improper: fit() will refuse it; use the default preset "
                      "or priors='separation'" if spec is not None and spec.dist == "flat" else
                      f"the prior {spec} keeps its posterior finite" if spec is not None else "")
            lines.append(f"{detail}; {effect}." if effect else f"{detail}.")
        warnings.warn(f"{found.kind.capitalize()} separation in the {family.name} model: " + " ".join(lines)
                      + " See fit.diagnose(); the GLMM FAQ's remedy is such a prior (or merging the level).",
                      BayesMMWarning, stacklevel=3)
    return found


def refuse_flat_priors(found: Separation, entries) -> None:
    """Raise a PriorError when a separated coefficient has a flat prior (the posterior is then improper)."""
    flat = [e.coef or e.cls for e in entries if e.prior.dist == "flat" and (e.coef or e.cls) in found.directions]
    if flat:
        raise PriorError(f"{found.kind.capitalize()} separation: the coefficient(s) {', '.join(flat)} have flat "
                         "priors, so the posterior is improper and the sampler would run off to infinity. Give them "
                         "a proper prior (the default preset, priors='separation', or e.g. "
                         "{'b': 'normal(0, 2.5)'}).")
