"""Covariance structures of random-effect blocks: the block's columns and positions from the data, and the
structures' correlation functions.

A positional block (``ar1``, ``ou``, ``exp``, ``gau``, ``mat``: :mod:`bayesmm.formula_structures`) has one column
per distinct time or position in the data, as glmmTMB's (a row's ``Z`` is the indicator of its position), so within
each level of the group the effects at the positions are one vector with covariance ``sd^2 R(param)``.
:func:`correlation` gives ``R`` and :func:`cholesky` its lower Cholesky factor for any array module (numpy here and
in predictions, ``jax.numpy`` in the model); :func:`markov_precision` the tridiagonal inverse of the ``ar1``/``ou``
correlation (a Markov chain over the sorted times), which also serves residual AR(1) errors.

The parameter of each structure: ``rho`` (``ar1``, ``cs``) or the time or length scale ``lscale`` (``ou``, ``exp``,
``gau``, ``mat``); ``toep`` has ``q - 1`` partial autocorrelations (:func:`lag_correlations` turns them into the
correlation per lag that the outputs show). Default priors (:func:`parameter_rule`): ``rho`` uniform on its valid
range (``(-1, 1)`` for ``ar1`` and each of ``toep``'s partial autocorrelations, ``(-1 / (q - 1), 1)`` for ``cs``
with ``q`` columns, where the matrix stays positive definite); ``lscale`` an inverse gamma with 1% of its mass below
the smallest distance between positions and 1% above the largest, as Betancourt's "Robust Gaussian processes in
Stan" (2017) and brms's ``gp()`` choose it, so that the scale stays where the data can inform it.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import BayesMMWarning, DataError, PriorError
from .formula_lexing import expression_variables
from .formula_structures import POSITIONAL, structure_of
from .hsgp import APPROXIMATED, AUTOMATIC_ABOVE, LSCALE_FLOOR, make_basis

__all__ = ["Structure", "PARAMETERS", "parameter_shape", "parameter_terms", "lag_correlations", "toeplitz",
           "positional_columns", "check_coordinates", "term_structure", "correlation",
           "cholesky", "markov_steps", "markov_precision", "parameter_rule", "inverse_gamma_tails",
           "checked_parameter_prior"]

#: each structure's parameter (its prior class and its name in the outputs)
PARAMETERS = {"cs": "rho", "toep": "rho", "ar1": "rho", "ou": "lscale", "exp": "lscale", "gau": "lscale",
              "mat": "lscale",
              **{f"{kind}_hsgp": "lscale" for kind in APPROXIMATED}}


@dataclass(frozen=True, eq=False)
class Structure:
    """A block's covariance structure: its ``kind``, the columns giving times or coordinates (``variables``) and,
    for a positional one, each block column's position (``positions``, columns x coordinates; ``ar1``: the steps
    0, 1, 2, ...) with the data's values at them (``values``)."""

    kind: str
    variables: tuple = ()
    positions: np.ndarray | None = None
    values: tuple = ()
    #: numeric ``ar1`` times: ``(first time, step)``, so that new times map onto the steps; None for a factor
    grid: tuple | None = None
    #: the Hilbert-space approximation's basis (:class:`bayesmm.hsgp.HilbertBasis`) of a block whose columns are
    #: its basis functions, or None (one column per position)
    basis: object = None

    @property
    def approximated(self) -> bool:
        return self.basis is not None

    @property
    def model_kind(self) -> str:
        """The kind the model dispatches on: ``gau_hsgp`` for an approximated ``gau`` block."""
        return f"{self.kind}_hsgp" if self.approximated else self.kind

    @property
    def parameter(self) -> str:
        return PARAMETERS[self.kind]

    @property
    def positional(self) -> bool:
        return self.kind in POSITIONAL

    @property
    def markov(self) -> bool:
        """Whether the precision is tridiagonal over the sorted positions (``ar1``, ``ou``)."""
        return self.kind in ("ar1", "ou")

    @property
    def label(self) -> str:
        """The term naming the structure's shared SD: its columns joined by dots (``time``, ``x.y``)."""
        return ".".join(self.variables)

    def distance_range(self) -> tuple[float, float]:
        """The smallest and largest distance between two positions (for many positions, nearest neighbours by a
        k-d tree and the largest distance over the convex hull's vertices: no positions x positions matrix)."""
        return distance_range(np.asarray(self.positions, dtype=float))


def distance_range(positions: np.ndarray) -> tuple[float, float]:
    """The smallest and largest distance between two of ``positions`` (positions x coordinates)."""
    if len(positions) > 500:
        from scipy.spatial import ConvexHull, cKDTree

        nearest = cKDTree(positions).query(positions, k=2)[0][:, 1]
        smallest = float(nearest[nearest > 0].min()) if np.any(nearest > 0) else 1.0
        if positions.shape[1] == 1:
            return smallest, float(np.ptp(positions))
        hull = positions[ConvexHull(positions).vertices]
        return smallest, float(_distances(hull, np).max())
    d = _distances(positions, np)
    positive = d[d > 0]
    return (float(positive.min()), float(positive.max())) if positive.size else (1.0, 1.0)


def parameter_shape(kind: str, n_columns: int) -> tuple:
    """The shape of a structured block's parameter site: ``()``, or ``(q - 1,)`` partial autocorrelations for
    ``toep`` with ``q`` columns."""
    return (n_columns - 1,) if kind == "toep" else ()


def parameter_terms(structure: Structure, n_columns: int) -> tuple[str, ...]:
    """The structure's parameter terms in the outputs (``bayesmm.naming.STRUCTURE_TERM``): ``ar1__rho``,
    ``exp__lscale``; ``toep`` one correlation per lag, ``toep__rho1`` .. ``toep__rho<q-1>``."""
    if structure.kind == "toep":
        return tuple(f"toep__rho{lag}" for lag in range(1, n_columns))
    return (f"{structure.kind}__{structure.parameter}",)


def term_structure(term, columns=()) -> Structure | None:
    """The structure of a non-positional structured term (``cs``, ``toep``) with block columns ``columns``, or
    None. ``toep`` needs two columns at least: its correlations are between columns one or more apart."""
    kind = structure_of(term)
    if kind == "toep" and len(columns) < 2:
        raise DataError(f"{term} has {len(columns)} column ({', '.join(columns)}): toep correlates the columns by "
                        "their distance, so it needs two or more, e.g. toep(0 + f | g) with f a factor whose levels "
                        "are the times in order.")
    return Structure(kind) if kind and kind not in POSITIONAL else None


def _rows(labels, index) -> list:
    return [labels[i] if labels is not None else int(i) for i in index[:5]]


def check_coordinates(spec, data: pd.DataFrame) -> None:
    """Times and coordinates of positional terms must be present and finite in every row: a missing one is refused
    (not dropped) naming the column and rows, since dropping it would silently move the structure."""
    for term in spec.random:
        if structure_of(term) not in POSITIONAL:
            continue
        for name in (v for piece in term.terms for v in expression_variables(piece)):
            if name not in data.columns:
                continue
            column = data[name]
            numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            bad = ~np.isfinite(column.to_numpy(dtype=float)) if numeric else column.isna().to_numpy()
            if bad.any():
                raise DataError(f"Column '{name}' of {term} has {int(bad.sum())} missing or non-finite values (rows "
                                f"{_rows(data.index, np.flatnonzero(bad))}): every row needs its time or position. "
                                "Remove those rows or fill them in.")


def _ar1_steps(term, column: pd.Series, labels) -> tuple[np.ndarray, np.ndarray, tuple, tuple | None]:
    """(each row's step, the steps 0..q-1, the values at them, (first time, step) or None for a factor) for ar1:
    a factor's levels in order, or numeric times that must be equally spaced."""
    name = term.terms[0]
    if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(column):
        factor = pd.Categorical(column)
        if isinstance(column.dtype, pd.CategoricalDtype):
            factor = column.cat.remove_unused_categories().array
        return np.asarray(factor.codes), np.arange(len(factor.categories)), tuple(map(str, factor.categories)), None
    values = column.to_numpy(dtype=float)
    distinct = np.unique(values)
    gaps = np.diff(distinct)
    if gaps.size and not np.allclose(gaps, gaps[0], rtol=1e-6, atol=0.0):
        at = int(np.flatnonzero(~np.isclose(gaps, gaps[0], rtol=1e-6, atol=0.0))[0])
        rows = _rows(labels, np.flatnonzero(values == distinct[at + 1]))
        raise DataError(f"Column '{name}' of {term} is not equally spaced: after {distinct[at]:g} comes "
                        f"{distinct[at + 1]:g} (a gap of {gaps[at]:g}, not {gaps[0]:g}; rows {rows}). ar1 needs "
                        f"equally spaced times: use ou({name} + 0 | {term.group}) for unequally spaced numeric "
                        "times, or a factor whose levels are the steps.")
    step = gaps[0] if gaps.size else 1.0
    codes = np.searchsorted(distinct, values)
    return (codes, np.round((distinct - distinct[0]) / step), tuple(f"{v:g}" for v in distinct),
            (float(distinct[0]), float(step)))


def positional_columns(term, frame: pd.DataFrame, group_index: np.ndarray, labels=None):
    """``(Z, column names, Structure)`` of a positional term: one indicator column per distinct time/position, or
    for a spatial block fitted with the Hilbert-space approximation (:func:`approximation`) one column per basis
    function, its values at each row's position.
    Refuses a column that is not numeric (``ou``, spatial) or not equally spaced (``ar1``) and two rows of one
    group at the same position, naming the column and the rows."""
    kind, names = structure_of(term), list(term.terms)
    variables = [expression_variables(piece)[0] for piece in names]
    grid = None
    if kind == "ar1":
        codes, positions, values, grid = _ar1_steps(term, frame[variables[0]], labels)
        positions = positions[:, None].astype(float)
    else:
        for name in variables:
            column = frame[name]
            if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
                raise DataError(f"Column '{name}' of {term} must hold numbers (times or coordinates), not "
                                f"{column.dtype}. Convert it with pd.to_numeric.")
        coordinates = frame[variables].to_numpy(dtype=float)
        positions, codes = np.unique(coordinates, axis=0, return_inverse=True)
        codes = codes.reshape(-1)
        values = tuple(",".join(f"{v:g}" for v in row) for row in positions)
    q = len(values)
    pair = group_index.astype(np.int64) * q + codes
    _, first, counts = np.unique(pair, return_index=True, return_counts=True)
    if np.any(counts > 1):
        twice = np.flatnonzero(pair == pair[first[np.argmax(counts > 1)]])
        raise DataError(f"{term}: rows {_rows(labels, twice)} are at the same "
                        f"{'time' if POSITIONAL[kind] == 1 else 'position'} ({'.'.join(variables)} = "
                        f"{values[codes[twice[0]]]}) in "
                        f"one level of '{term.group}'. Each level needs distinct times/positions: aggregate the "
                        "duplicates or add a level (e.g. a replicate factor) to the group.")
    label = ".".join(variables)
    structure = Structure(kind, tuple(variables), np.asarray(positions, dtype=float), values, grid)
    basis = approximation(term, structure)
    if basis is not None:
        Z = basis.basis(frame[variables].to_numpy(dtype=float))
        columns = tuple(f"{label}[hsgp{','.join(map(str, j))}]" for j in basis.indices)
        return Z, columns, dataclasses.replace(structure, basis=basis)
    Z = np.zeros((len(codes), q))
    Z[np.arange(len(codes)), codes] = 1.0
    columns = tuple(f"{label}[{v}]" for v in values)
    return Z, columns, structure


def _prior_range(structure: Structure, approximated: bool) -> tuple[float, float]:
    """The distances the length scale's default prior keeps 98% of its mass between: the smallest and largest
    distance, the smallest raised to :data:`bayesmm.hsgp.LSCALE_FLOOR` of the largest for an approximated block."""
    low, high = structure.distance_range()
    return (max(low, LSCALE_FLOOR * high), high) if approximated else (low, high)


def approximation(term, structure: Structure):
    """The Hilbert-space basis of a spatial block (:mod:`bayesmm.hsgp`) when the term asks for it (``k =``,
    ``hsgp = TRUE``) or it has more than :data:`bayesmm.hsgp.AUTOMATIC_ABOVE` positions (``gau``, ``mat``; a
    warning says so), else None."""
    kind, asked = structure.kind, term.option("hsgp")
    if kind not in APPROXIMATED or asked is False:
        return None
    many = len(structure.positions) > AUTOMATIC_ABOVE
    if asked is None and term.option("k") is None and not (many and kind != "exp"):
        if many:
            warnings.warn(f"{term} has {len(structure.positions)} positions: the exact exponential kernel costs "
                          "O(positions^3) per gradient. Use mat(...) (Matern 3/2, approximated above "
                          f"{AUTOMATIC_ABOVE} positions) or exp(..., hsgp = TRUE) (its approximation converges "
                          "slowly; docs/formulas.md).", BayesMMWarning, stacklevel=2)
        return None
    from scipy import stats

    low, high = _prior_range(structure, True)
    shape, scale = inverse_gamma_tails(low, high)
    typical = float(stats.invgamma.median(shape, scale=scale))
    basis = make_basis(kind, structure.positions, low, typical, term.option("c"), term.option("k"))
    if asked is None and term.option("k") is None:
        warnings.warn(f"{term} has {len(structure.positions)} positions: it is fitted with the Hilbert-space "
                      f"approximation (m = {basis.m[0]} basis functions per coordinate, {basis.n_functions} in all, "
                      f"box c = {basis.c:.2g} times the half-range; accuracy in docs/formulas.md). Set k = and c = "
                      "in the term to choose them, or hsgp = FALSE for the exact kernel.", BayesMMWarning,
                      stacklevel=2)
    return basis


# ------------------------------------------------------------------------------------ correlation functions
def _distances(positions, xp):
    diff = positions[:, None, :] - positions[None, :, :]
    return xp.sqrt(xp.sum(diff * diff, axis=-1))


def _signed_power(rho, lag, xp):
    """``rho ** lag`` for whole lags and a negative ``rho`` too (a float power of a negative number is NaN)."""
    magnitude = xp.abs(rho) ** lag
    odd = xp.mod(lag, 2.0) == 1.0
    return xp.where(odd & (rho < 0), -magnitude, magnitude)


def correlation(kind: str, param, positions, xp=np, other=None):
    """The correlation between the positions (rows of ``positions``) and those of ``other`` (default: themselves)
    under structure ``kind`` with parameter ``param`` (``rho`` or ``lscale``); ``xp``: numpy or jax.numpy."""
    other = positions if other is None else other
    diff = positions[:, None, :] - other[None, :, :]
    d = xp.sqrt(xp.sum(diff * diff, axis=-1))
    if kind == "ar1":
        return _signed_power(param, xp.round(d), xp)
    if kind in ("ou", "exp"):
        return xp.exp(-d / param)
    if kind == "gau":
        return xp.exp(-0.5 * (d / param) ** 2)
    if kind == "mat":
        scaled = np.sqrt(3.0) * d / param
        return (1.0 + scaled) * xp.exp(-scaled)
    if kind == "cs":
        n = positions.shape[0]
        return (1.0 - param) * xp.eye(n) + param * xp.ones((n, n))
    if kind == "toep":
        return toeplitz(lag_correlations(param, xp), xp)
    raise ValueError(f"unknown structure {kind!r}")


def markov_steps(kind: str, param, positions, xp=np):
    """The correlations between consecutive positions (sorted) of an ``ar1``/``ou`` chain, ``phi_1 .. phi_{q-1}``."""
    gaps = positions[1:, 0] - positions[:-1, 0]
    return _signed_power(param, xp.round(gaps), xp) if kind == "ar1" else xp.exp(-gaps / param)


def cholesky(kind: str, param, positions, xp=np, jitter: float = 1e-6):
    """The lower Cholesky factor of :func:`correlation`: in closed form for the Markov chains (``x_0 = e_0``,
    ``x_i = phi_i x_{i-1} + sqrt(1 - phi_i^2) e_i``), by a Cholesky with ``jitter`` on the diagonal otherwise
    (the Gaussian kernel is numerically singular for close positions)."""
    if kind in ("ar1", "ou"):
        phi = markov_steps(kind, param, positions, xp)
        scale = xp.concatenate([xp.ones(1), xp.sqrt(1.0 - phi ** 2)])
        R = correlation(kind, param, positions, xp)
        return xp.tril(R) * scale[None, :]
    R = correlation(kind, param, positions, xp)
    n = R.shape[0]
    return xp.linalg.cholesky(R + (jitter if kind not in ("cs", "toep") else 0.0) * xp.eye(n))


def lag_correlations(partial, xp=np):
    """The correlations at lags 1 .. m of a stationary series from its partial autocorrelations ``partial``
    (..., m), each in (-1, 1), by the Durbin-Levinson recursion: every such vector gives a positive definite
    Toeplitz correlation matrix and every such matrix has one (Barndorff-Nielsen and Schou 1973), so uniform
    partial autocorrelations are a prior over all valid ``toep`` matrices (glmmTMB maps each lag's correlation
    into (-1, 1) on its own, which can leave the positive definite set). With ``phi`` the AR(k) coefficients and
    ``v`` the innovation variance, ``r_{k+1} = sum_j phi_j r_{k+1-j} + a_{k+1} v``."""
    phi = partial[..., :1]
    lags = partial[..., :1]
    variance = 1.0 - partial[..., 0] ** 2
    for k in range(1, partial.shape[-1]):
        a = partial[..., k]
        following = xp.sum(phi * lags[..., ::-1], axis=-1) + a * variance
        phi = xp.concatenate([phi - a[..., None] * phi[..., ::-1], a[..., None]], axis=-1)
        lags = xp.concatenate([lags, following[..., None]], axis=-1)
        variance = variance * (1.0 - a ** 2)
    return lags


def toeplitz(lags, xp=np):
    """The correlation matrices (..., m + 1, m + 1) with ``lags`` (..., m) on the off-diagonals, lag 1 first."""
    n = lags.shape[-1] + 1
    full = xp.concatenate([xp.ones(lags.shape[:-1] + (1,)), lags], axis=-1)
    return full[..., np.abs(np.subtract.outer(np.arange(n), np.arange(n)))]


def markov_precision(phi, xp=np):
    """The inverse of a Markov chain's correlation matrix (steps ``phi``): ``(diagonal, off-diagonal, log det R)``.
    With ``e = A x`` the innovations (``A`` lower bidiagonal, ``1/c_i`` on the diagonal and ``-phi_i/c_i`` below,
    ``c_i^2 = 1 - phi_i^2``), ``R^-1 = A' A``."""
    inv = 1.0 / (1.0 - phi ** 2)
    head = xp.concatenate([xp.ones(1), inv])  # A_ii^2
    tail = xp.concatenate([phi ** 2 * inv, xp.zeros(1)])  # A_{i+1,i}^2
    return head + tail, -phi * inv, xp.sum(xp.log1p(-phi ** 2))


# ----------------------------------------------------------------------------------------------- priors
def inverse_gamma_tails(low: float, high: float, tail: float = 0.01) -> tuple[float, float]:
    """``(shape, scale)`` of the inverse gamma with ``tail`` of its mass below ``low`` and above ``high``."""
    from scipy import optimize, stats

    if not high > low:
        high = low * 10.0

    def gap(log_ab):
        a, b = np.exp(log_ab)
        return [stats.invgamma.cdf(low, a, scale=b) - tail, stats.invgamma.sf(high, a, scale=b) - tail]

    guess = np.log([5.0, 5.0 * np.sqrt(low * high)])
    solution, _, found, _ = optimize.fsolve(gap, guess, full_output=True)
    if found != 1:
        return 2.0, float(np.sqrt(low * high))
    a, b = np.exp(solution)
    return float(a), float(b)


def parameter_rule(block) -> tuple[str, str, dict]:
    """``(class, default rule, variables)`` of a structured block's parameter (see the module docstring)."""
    structure = block.structure
    if structure.parameter == "rho":
        low = -1.0 if structure.kind in ("ar1", "toep") else -1.0 / max(block.n_columns - 1, 1)
        return "rho", "uniform(rho_min, 1)", {"rho_min": low}
    shape, scale = inverse_gamma_tails(*_prior_range(structure, structure.approximated))
    return "lscale", "inverse_gamma(lscale_shape, lscale_scale)", {"lscale_shape": shape, "lscale_scale": scale}


def checked_parameter_prior(block, entry, variables: dict):
    """``entry`` (a ``priors.PriorEntry``), after checking that a ``rho`` prior stays inside the range where the
    structure's correlation matrix is valid."""
    low = variables.get("rho_min")
    if low is not None and (entry.prior.args[0] < low - 1e-9 or entry.prior.args[1] > 1):
        raise PriorError(f"prior on rho {block.group}: '{entry.prior}' reaches outside ({low:.4g}, 1), where the "
                         f"{block.structure.kind} correlation matrix is valid.")
    return entry
