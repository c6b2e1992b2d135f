"""Predictions of structured random-effect blocks (:mod:`bayesmm.structures`) at times or positions the fit has
not seen, and for new levels of a structured group.

A positional block (``ar1``, ``ou``, ``exp``, ``gau``, ``mat``) has one effect per fitted time/position in each level,
jointly ``N(0, sd^2 R)``. Per posterior draw:

* a known level at new positions: the effects there given the level's fitted effects ``b`` (simple kriging, the
  gaussian conditional): mean ``R_no R_oo^-1 b`` and covariance ``sd^2 (R_nn - R_no R_oo^-1 R_on)``;
* a new level: a draw from the structure's prior ``N(0, sd^2 R)`` jointly at the fitted and the new positions;
* ``cs``: a new level's columns with correlation ``rho`` between every pair; ``toep``: the correlation at each lag;
* a block fitted with the Hilbert-space approximation (:mod:`bayesmm.hsgp`): its columns are basis functions, so
  new positions need no kriging (the rows' basis functions times the level's weights, inside the approximation's
  box), and a new level's weights are independent with SDs ``sd sqrt(S)``.

``ar1`` is defined on whole steps: a numeric time on the fitted grid (``first + k * step``, also before the first or
after the last fitted time) is kriged with ``rho^|lag|`` (the AR recursion's own prediction, since an AR(1) is
Markov); a time between the steps, or a level of an ``ar1`` factor the fit has not seen, is refused (fit ``ou`` for
continuous times). Joint draws over more than :data:`JOINT_LIMIT` new positions would cost a cubic factorisation
per draw: beyond it each new position is drawn from its own conditional (exact per row, independent across the new
positions given the fitted effects).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import naming
from ..errors import DataError
from ..hsgp import spectral_density
from ..structures import correlation, toeplitz

__all__ = ["JOINT_LIMIT", "new_positions", "basis_columns", "kriged_effects", "prior_effects", "structure_draws",
           "structured_new_levels"]

#: the most new positions drawn jointly per posterior draw
JOINT_LIMIT = 500
#: the diagonal the model adds to a non-Markov correlation before its Cholesky factor (structures.cholesky)
_JITTER = 1e-6


def _jitter(kind: str) -> float:
    return 0.0 if kind in ("ar1", "ou", "cs") else _JITTER


def _ar1_steps(structure, column: pd.Series, term) -> np.ndarray:
    """Each row's ``ar1`` step (whole, possibly outside the fitted range), or a DataError naming the rows."""
    name = structure.variables[0]
    if structure.grid is None:
        known = {value: k for k, value in enumerate(structure.values)}
        labels = column.astype(str).to_numpy()
        unseen = list(dict.fromkeys(v for v in labels if v not in known))
        if unseen:
            raise DataError(f"newdata's '{name}' has level(s) {unseen[:5]} that the fit's {term} has not seen: a "
                            "factor's new level has no place in the AR(1) chain. Predict at the fitted levels "
                            f"{list(structure.values[:5])}..., or fit numeric times (ar1 over equally spaced numbers "
                            "extrapolates to new steps; ou takes any times).")
        return np.array([known[v] for v in labels], dtype=float)
    first, step = structure.grid
    steps = (column.to_numpy(dtype=float) - first) / step
    off = np.flatnonzero(np.abs(steps - np.round(steps)) > 1e-6)
    if off.size:
        raise DataError(f"newdata's '{name}' has times between the steps of {term} (rows "
                        f"{list(column.index[off][:5])}, e.g. {column.iloc[off[0]]:g}; the steps are {first:g} + k * "
                        f"{step:g}): an AR(1) is defined at whole steps. Predict on the steps, or fit "
                        f"ou({name} + 0 | ...) for continuous times.")
    return np.round(steps)


def new_positions(block, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(each row's column in the fitted positions followed by the new ones, the new positions (new x coordinates))
    of a positional block on ``frame``."""
    structure = block.structure
    if structure.kind == "ar1":
        coordinates = _ar1_steps(structure, frame[structure.variables[0]], block.term)[:, None]
    else:
        coordinates = frame[list(structure.variables)].to_numpy(dtype=float)
    known = {tuple(p): k for k, p in enumerate(np.asarray(structure.positions, dtype=float))}
    fresh: dict = {}
    codes = np.empty(len(coordinates), dtype=np.int64)
    for i, point in enumerate(map(tuple, coordinates)):
        if point in known:
            codes[i] = known[point]
        else:
            codes[i] = len(known) + fresh.setdefault(point, len(fresh))
    return codes, np.array(list(fresh), dtype=float).reshape(len(fresh), coordinates.shape[1])


def basis_columns(block, frame: pd.DataFrame) -> np.ndarray:
    """An approximated block's columns on ``frame``: its basis functions at the rows' positions (:mod:`bayesmm.hsgp`),
    refusing positions outside the approximation's box, where every basis function is 0."""
    structure = block.structure
    coordinates = frame[list(structure.variables)].to_numpy(dtype=float)
    outside = np.flatnonzero(structure.basis.outside(coordinates))
    if outside.size:
        low = structure.basis.centre - structure.basis.half_width
        high = structure.basis.centre + structure.basis.half_width
        raise DataError(f"newdata rows {list(frame.index[outside][:5])} lie outside the box of {block.term}'s "
                        f"approximation ({', '.join(structure.variables)} from {np.round(low, 4).tolist()} to "
                        f"{np.round(high, 4).tolist()}), where it has no basis: predict inside it, or refit with a "
                        "larger c = in the term.")
    return structure.basis.basis(coordinates)


def _chunks(n_draws: int, size: int):
    step = max(1, int(2e7 // max(size, 1)))
    return [slice(s, min(s + step, n_draws)) for s in range(0, n_draws, step)]


def _correlations(kind, params, first, second):
    return np.stack([correlation(kind, p, first, np, second) for p in params])


def kriged_effects(kind: str, sd, param, fitted_positions, positions, fitted_effects, rng) -> np.ndarray:
    """(draws x levels x new positions) effects at ``positions`` given each level's ``fitted_effects`` (draws x
    levels x fitted positions), per draw with SD ``sd`` and structure parameter ``param`` (both (draws,))."""
    n_draws, n_levels, q = fitted_effects.shape
    out = np.empty((n_draws, n_levels, len(positions)))
    joint = len(positions) <= JOINT_LIMIT
    for part in _chunks(n_draws, (q + len(positions)) * max(q, len(positions) if joint else 1)):
        R_oo = _correlations(kind, param[part], fitted_positions, None) + _jitter(kind) * np.eye(q)
        R_on = _correlations(kind, param[part], fitted_positions, positions)
        weights = np.linalg.solve(R_oo, R_on)  # R_oo^-1 R_on, (draws, q, new)
        mean = np.einsum("slq,sqn->sln", fitted_effects[part], weights)
        scale = sd[part][:, None, None]
        if joint:
            R_nn = _correlations(kind, param[part], positions, None)
            cov = R_nn - np.einsum("sqa,sqb->sab", R_on, weights)
            noise = np.einsum("sab,slb->sla", _psd_root(cov), rng.standard_normal(mean.shape))
        else:
            variance = 1.0 - np.einsum("sqn,sqn->sn", R_on, weights)
            noise = np.sqrt(np.clip(variance, 0.0, None))[:, None, :] * rng.standard_normal(mean.shape)
        out[part] = mean + scale * noise
    return out


def _psd_root(cov: np.ndarray) -> np.ndarray:
    """A square root ``A`` (``A A' = cov``) of each of a stack of covariance matrices that may be singular (a new
    position at a fitted one, or two new ones together): a Cholesky factor (fast) with a tiny diagonal, else the
    eigenvectors scaled by the roots of the eigenvalues clipped at 0."""
    try:
        return np.linalg.cholesky(cov + 1e-9 * np.eye(cov.shape[-1]))
    except np.linalg.LinAlgError:
        pass
    values, vectors = np.linalg.eigh(cov)
    return vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]


def prior_effects(kind: str, sd, param, positions, n_levels: int, rng) -> np.ndarray:
    """(draws x levels x positions) draws from the structure's prior ``N(0, sd^2 R)`` at ``positions``."""
    n_draws, q = len(sd), len(positions)
    out = np.empty((n_draws, n_levels, q))
    for part in _chunks(n_draws, q * q):
        R = _correlations(kind, param[part], positions, None) + _jitter(kind) * np.eye(q)
        z = rng.standard_normal((len(sd[part]), n_levels, q))
        out[part] = sd[part][:, None, None] * np.einsum("sab,slb->sla", _psd_root(R), z)
    return out


def structure_draws(fit, group: str, structure, index, component: str = "cond") -> np.ndarray:
    """The structure parameter's draws (``ar1_g``, ``exp_g``, ...; ``toep_g``: draws x lags) at ``index``."""
    name = naming.structure_parameter(group, f"{structure.kind}__{structure.parameter}", component)
    values = fit.idata.posterior[naming.variable(name)].values
    return values.reshape((-1,) + values.shape[2:])[index]


def structured_new_levels(blocks, columns, sd, cor, param_draws, positions, n_new: int, rng) -> np.ndarray:
    """(draws x new levels x (group's terms + new positions)) effects of new levels of a group with a structured
    block: ``blocks``/``columns`` the group's blocks and their slices of its terms, ``sd`` (draws x terms), ``cor``
    (draws x terms x terms, the unstructured blocks' correlations), ``param_draws`` per structured block index,
    ``positions`` the new positions of the group's positional block (or None)."""
    n_draws, q = sd.shape
    extra = 0 if positions is None else len(positions)
    out = np.zeros((n_draws, n_new, q + extra))
    for block, where in zip(blocks, columns):
        structure = block.structure
        width = where.stop - where.start
        if structure is not None and structure.approximated:  # independent basis weights, sd sqrt(S)
            scale = sd[:, where.start, None] * np.sqrt(spectral_density(
                structure.kind, param_draws[id(block)][:, None], structure.basis.frequencies()[None], np))
            out[:, :, where] = scale[:, None, :] * rng.standard_normal((n_draws, n_new, width))
            continue
        if structure is not None and structure.positional:
            at = structure.positions if not extra else np.concatenate([structure.positions, positions])
            drawn = prior_effects(structure.kind, sd[:, where.start], param_draws[id(block)], at, n_new, rng)
            out[:, :, where] = drawn[:, :, :width]
            out[:, :, q:] = drawn[:, :, width:]
            continue
        if structure is not None and structure.kind == "toep":
            block_cor = toeplitz(param_draws[id(block)])
        elif structure is not None:  # cs: one rho for every pair
            rho = param_draws[id(block)][:, None, None]
            block_cor = (1.0 - rho) * np.eye(width) + rho
        else:
            block_cor = cor[:, where, where]
        chol = np.linalg.cholesky(block_cor + 1e-12 * np.eye(width))
        factor = sd[:, where, None] * chol
        out[:, :, where] = np.einsum("sij,snj->sni", factor, rng.standard_normal((n_draws, n_new, width)))
    return out
