"""Level-level covariates rotated into coordinates of their own: the Householder vectors per block (numpy, once
per fit; the sampler applies them in ``sampler.coordinates``)."""
from __future__ import annotations

import numpy as np

__all__ = ["level_bases", "MAX_LEVEL_COVARIATES"]


#: At most this many level-level covariates per block get coordinates of their own (each adds ``columns``
#: coordinates to the dense block, whose first adapted estimate comes from 25 warmup draws).
MAX_LEVEL_COVARIATES = 4


def level_bases(group_index: np.ndarray, n_levels: int, X: np.ndarray) -> np.ndarray | None:
    """Householder vectors (r x levels, unit rows) of a QR decomposition of ``[1, A]`` per level, ``A`` the
    columns of ``X`` (rows x slopes) that hold one value within every level (level-level covariates, at most
    :data:`MAX_LEVEL_COVARIATES`, linearly independent of the ones before them), or ``None`` where there are none
    (the mean's single reflection then, ``sampler.coordinates``). ``Q = H_1 ... H_r`` maps ``e_j`` to the j-th
    orthonormal basis column: ``(Q' z)[:r]`` are ``z``'s coordinates along the mean and the covariates.
    Numpy, once per fit."""
    g = np.asarray(group_index)
    if n_levels < 3 or not X.shape[1]:
        return None
    if np.bincount(g, minlength=n_levels).min() == 0:  # a level without rows (only from new data): no basis
        return None
    low, high = np.full((X.shape[1], n_levels), np.inf), np.full((X.shape[1], n_levels), -np.inf)
    for j in range(X.shape[1]):  # ufunc.at on one column: a pass over the rows (sorting them took 20x longer)
        np.minimum.at(low[j], g, X[:, j])
        np.maximum.at(high[j], g, X[:, j])
    low, high = low.T, high.T
    spread = np.ptp(X, axis=0)
    constant = np.all(high - low <= 1e-9 * np.maximum(spread, 1e-300), axis=0) & (spread > 0)
    if not constant.any():
        return None
    columns = [np.full(n_levels, 1.0 / np.sqrt(n_levels))]
    for j in np.flatnonzero(constant):
        a = low[:, j] - low[:, j].mean()
        columns.append(a / max(np.linalg.norm(a), 1e-300))
    R, vectors = np.column_stack(columns), []
    for j in range(R.shape[1]):
        k = len(vectors)
        if k >= min(n_levels - 1, 1 + MAX_LEVEL_COVARIATES):
            break
        x = R[k:, j]
        norm = np.linalg.norm(x)
        if norm < 1e-8:  # in the span of the columns before it
            continue
        v = x.copy()  # H x = norm e_1: v = x - norm e_1, its first entry without cancellation (Parlett)
        v[0] = -np.sum(x[1:] ** 2) / (x[0] + norm) if x[0] > 0 else x[0] - norm
        full = np.zeros(n_levels)
        if np.linalg.norm(v) > 0:
            full[k:] = v / np.linalg.norm(v)
        R = R - 2.0 * np.outer(full, full @ R)
        vectors.append(full)
    return np.stack(vectors) if len(vectors) > 1 else None
