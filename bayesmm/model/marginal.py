"""Gaussian models with the random effects integrated out (exact, no funnel).

For ``y = X beta + Z r + e`` with ``r = T u``, ``u ~ N(0, I)`` and ``e ~ N(0, sigma^2 I)``, the marginal
``y ~ N(X beta, sigma^2 I + Z T T' Z')`` is evaluated by Woodbury from precomputed cross-products
(lme4's penalised least squares uses the same identity; Bates et al. 2015, eq. 16-18; Lai, Domke and
Sheldon, NeurIPS 2024, for marginalising in HMC)::

    W = Z T,  M = I + W'W / sigma^2 = C C'
    log|V| = n log sigma^2 + log|M|
    r' V^-1 r = (r'r - (W'r)' M^-1 (W'r) / sigma^2) / sigma^2

so each gradient costs O(Q^3) in the number Q of random-effect coefficients, whatever the number of rows.
The sampler sees only the fixed effects and the variance parameters; after sampling, the random effects
are drawn from their exact conditional ``u | y, theta ~ N(M^-1 W'r / sigma^2, M^-1)``.

``T`` is block diagonal: per block ``k`` and level, ``diag(sd_k) L_k`` (``L_k`` the LKJ Cholesky factor).
Columns of the full ``Z`` are ordered block by block, level by level, column by column.
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import jax.scipy.linalg as jla
import numpy as np

from ..plan.choose import PER_LEVEL_COLUMNS, n_coefficients
from .arrays import as_float, on_device
from .sparse_sums import SparseSums, apply_sums, sparse_sums

__all__ = ["MarginalData", "marginal_data", "marginal_log_likelihood", "conditional_effects", "level_cross_products",
           "one_block_log_likelihood", "one_block_effects", "OneBlockData", "one_block_data", "cell_statistics"]


class MarginalData(NamedTuple):
    """Cross-products of ``Xa = [1, X_centred]`` (intercept column only if the model has one), Z and y."""

    ZtZ: jnp.ndarray
    ZtX: jnp.ndarray
    Zty: jnp.ndarray
    XtX: jnp.ndarray
    Xty: jnp.ndarray
    yty: jnp.ndarray
    n: jnp.ndarray
    #: One block of few columns only: per-level (L, q, q), (L, q, p) and (L, q) slices of ZtZ, ZtX, Zty
    #: (``ZtZ`` is then block diagonal and the algebra runs per level, see :func:`_per_level`).
    level_ZtZ: jnp.ndarray | None = None
    level_ZtX: jnp.ndarray | None = None
    level_Zty: jnp.ndarray | None = None


def full_z(blocks, n: int) -> np.ndarray:
    """The dense n x Q random-effects matrix (only built for small Q, once, in numpy)."""
    columns, offset = np.zeros((n, n_coefficients(blocks))), 0
    rows = np.arange(n)
    for block in blocks:
        q = block.n_columns
        for j in range(q):
            columns[rows, offset + block.group_index * q + j] = block.Z[:, j]
        offset += block.n_levels * q
    return columns


def marginal_data(blocks, Xa: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> MarginalData:
    """Cross-products; frequency weights ``w`` make each row count ``w`` times (``Z'WZ``, ..., ``n = sum w``)."""
    Z = full_z(blocks, len(y))
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    Zw, Xw = Z * w[:, None], Xa * w[:, None]
    arrays = [Zw.T @ Z, Zw.T @ Xa, Zw.T @ y, Xw.T @ Xa, Xw.T @ y, (w * y) @ y, float(w.sum())]
    if len(blocks) == 1 and blocks[0].n_columns <= PER_LEVEL_COLUMNS:
        L, q = blocks[0].n_levels, blocks[0].n_columns
        idx = np.arange(L * q).reshape(L, q)
        arrays += [arrays[0][idx[:, :, None], idx[:, None, :]], arrays[1][idx], arrays[2][idx]]
    return MarginalData(*(on_device(np.asarray(a, dtype=np.float64)) for a in arrays))


def _t_pattern(blocks):
    """Row and column of every lower-triangular entry of T, and which (block, a, b) factor entry fills it."""
    rows, cols, source, offset, start = [], [], [], 0, 0
    for block in blocks:
        q, levels = block.n_columns, block.n_levels
        a, b = np.tril_indices(q)
        base = offset + np.arange(levels)[:, None] * q
        rows.append((base + a).ravel())
        cols.append((base + b).ravel())
        source.append(np.tile(start + np.arange(len(a)), levels))
        offset += levels * q
        start += len(a)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(source), offset


def _factor_t(blocks, factors):
    """Block-diagonal T (Q x Q) from the per-block q x q factors diag(sd_k) L_k, by one scatter."""
    rows, cols, source, size = _t_pattern(blocks)
    entries = jnp.concatenate([f[np.tril_indices(f.shape[0])] for f in factors])
    return jnp.zeros((size, size)).at[rows, cols].set(entries[source])


def _woodbury(blocks, factors, beta, sigma, md: MarginalData):
    T = _factor_t(blocks, factors)
    W_Z = md.ZtZ @ T
    M = jnp.eye(T.shape[0]) + (T.T @ W_Z) / sigma**2
    chol = jnp.linalg.cholesky(M)
    Wr = T.T @ (md.Zty - md.ZtX @ beta)
    return T, chol, Wr


def _small_cholesky(M):
    """Lower Cholesky factors of a stack (..., q, q) of small SPD matrices, unrolled over q (no LAPACK
    call: elementwise over the stack), as nested lists of (...) arrays."""
    q = M.shape[-1]
    C = [[None] * q for _ in range(q)]
    for j in range(q):
        C[j][j] = jnp.sqrt(M[..., j, j] - sum(C[j][k] ** 2 for k in range(j)))
        for i in range(j + 1, q):
            C[i][j] = (M[..., i, j] - sum(C[i][k] * C[j][k] for k in range(j))) / C[j][j]
    return C


def forward_solve(C, b):
    """Solve C x = b per level (C lower, from :func:`_small_cholesky`; b (..., q))."""
    x = []
    for i in range(len(C)):
        x.append((b[..., i] - sum(C[i][k] * x[k] for k in range(i))) / C[i][i])
    return jnp.stack(x, axis=-1)


def backward_solve(C, b):
    """Solve C' x = b per level."""
    q = len(C)
    x = [None] * q
    for i in reversed(range(q)):
        x[i] = (b[..., i] - sum(C[k][i] * x[k] for k in range(i + 1, q))) / C[i][i]
    return jnp.stack(x, axis=-1)


def _per_level(factor, beta, sigma, md: MarginalData):
    """One block, T = I_L (x) F: ``M`` is block diagonal, ``M_l = I + F' A_l F / sigma^2`` per level."""
    M = jnp.eye(factor.shape[0]) + jnp.einsum("ji,ljk,km->lim", factor, md.level_ZtZ, factor) / sigma**2
    C = _small_cholesky(M)
    Wr = (md.level_Zty - md.level_ZtX @ beta) @ factor  # (L, q): F' (Z_l'y - Z_l'X beta) per level
    return C, Wr


def dense_woodbury(md: MarginalData) -> bool:
    """Whether the model's algebra is the dense one (:func:`_woodbury`: several blocks), which calls LAPACK
    (Cholesky, triangular solves) rather than the unrolled per-level factors of one block.

    Its conditional draws must not be replayed in batches over draws. jaxlib 0.10's CPU LAPACK kernels
    split a large batch (64 matrices, not 16) into tasks on XLA's intra-op thread pool and block until they
    finish; two such calls running at once can take every pool thread and wait on each other forever. A
    replay of 256 draws at a time made four (two solves in each of two chunks): pastes
    ``(1 | batch/cask)`` hung in the teaching notebook, native stacks showing all four ``tf_XLAEigen``
    threads in ``lapack_dtrsm_ffi`` -> ``ParallelBatchMap`` -> ``BlockingCounter::Wait``.
    ``benchmarks/lapack_deadlock.py`` reproduces it in a few lines; unbatched calls never hung there."""
    return md.level_ZtZ is None


def marginal_log_likelihood(blocks, factors, beta, sigma, md: MarginalData):
    """log N(y | Xa beta, sigma^2 I + Z T T' Z') by Woodbury."""
    rtr = md.yty - 2 * beta @ md.Xty + beta @ md.XtX @ beta
    if not dense_woodbury(md):
        C, Wr = _per_level(factors[0], beta, sigma, md)
        half = forward_solve(C, Wr)
        quad = (rtr - jnp.sum(half * half) / sigma**2) / sigma**2
        logdet = md.n * jnp.log(sigma**2) + 2 * sum(jnp.sum(jnp.log(C[i][i])) for i in range(len(C)))
        return -0.5 * (md.n * jnp.log(2 * jnp.pi) + logdet + quad)
    _, chol, Wr = _woodbury(blocks, factors, beta, sigma, md)
    half = jla.solve_triangular(chol, Wr, lower=True)
    quad = (rtr - half @ half / sigma**2) / sigma**2
    logdet = md.n * jnp.log(sigma**2) + 2 * jnp.sum(jnp.log(jnp.diag(chol)))
    return -0.5 * (md.n * jnp.log(2 * jnp.pi) + logdet + quad)


def conditional_effects(blocks, factors, beta, sigma, md: MarginalData, noise):
    """One draw of the random effects from their exact conditional, split into (levels x q) per block."""
    if not dense_woodbury(md):
        C, Wr = _per_level(factors[0], beta, sigma, md)
        mean = backward_solve(C, forward_solve(C, Wr)) / sigma**2
        u = mean + backward_solve(C, noise.reshape(Wr.shape))
        return [u @ factors[0].T]
    T, chol, Wr = _woodbury(blocks, factors, beta, sigma, md)
    mean = jla.cho_solve((chol, True), Wr) / sigma**2
    u = mean + jla.solve_triangular(chol.T, noise, lower=False)
    r = T @ u
    out, offset = [], 0
    for block in blocks:
        size = block.n_levels * block.n_columns
        out.append(r[offset:offset + size].reshape(block.n_levels, block.n_columns))
        offset += size
    return out


# --- One block integrated out, the others sampled ------------------------------------------------------------
# With many levels (InstEval: 4,128 coefficients in three crossed blocks) the dense algebra above costs too
# much, but one block can still be integrated out given the sampled others: with ``e = y - X beta - (the other
# blocks' effects)`` the block's levels are independent, ``e_l ~ N(0, sigma^2 I + Z_l F F' Z_l')``, and the
# same per-level Woodbury applies. It needs only ``Z_l' W e_l`` per level and ``e' W e``.
#
# Rows that share every sampled term (the fixed-effect row, the offset, the other blocks' levels and columns)
# share their linear predictor: a *cell* (InstEval: 1,790 cells of lecturer x department x service for 73,421
# rows). With ``d_c = ybar_c - eta_c`` per cell (``ybar_c`` the cell's weighted mean response),
# ``e' W e = sum_c W_c d_c^2 + (the within-cell sum of squares)`` and ``Z_l' W e_l = Z_l' W (y - ybar) +
# sum over the level's rows of w Z d_c``: per step one gather of ``d`` to the rows and one segment sum over the
# block's levels, instead of the gathers of every sampled block, the fixed-effect product and their
# transposes (scatter-adds) over all rows.
#
# The sums over the level's rows are one sparse product ``A d`` (a row of ``A`` per level and column, a column per
# cell, a nonzero ``w Z`` per row of the data) and their gradient ``A' g``, both by gathers
# (:mod:`.sparse_sums`): XLA's CPU scatter-add, the segment sum's, runs one row at a time.


class OneBlockData(NamedTuple):
    """What the integrated-out block's likelihood needs besides the cells' linear predictor."""

    ZtZ: jnp.ndarray  # (L, q, q): Z_l' W Z_l per level
    Zte0: jnp.ndarray  # (L, q): Z_l' W (y - ybar_cell) per level
    ss_within: jnp.ndarray  # sum of w (y - ybar_cell)^2
    n: jnp.ndarray  # sum of w
    cell_mean: jnp.ndarray  # (cells,): weighted mean response per cell
    cell_weight: jnp.ndarray  # (cells,): weight per cell (its rows' weights summed)
    #: ``A`` of ``sum over the level's rows of w Z d_c = A d`` (:class:`.sparse_sums.SparseSums`): a row per level and
    #: column (``level * q + column``), a column per cell (per row of the data when every row is its own cell)
    sums: SparseSums
    #: the distinct matrices among the levels' ``Z_l' W Z_l`` (U, q, q), each level's (L,) and how many levels have
    #: each (U,), when there are few (:func:`level_kinds`); None otherwise
    kinds: tuple | None = None


def level_cross_products(block, weights: np.ndarray | None = None) -> np.ndarray:
    """``Z_l' W Z_l`` per level (L, q, q) of one block, in numpy."""
    Z = np.asarray(block.Z, dtype=float)
    w = np.ones(Z.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    q = Z.shape[1]
    out = np.zeros((block.n_levels, q, q))
    column = indicator_columns(Z)
    if column is not None:  # diagonal: each level's weight at each column, one count instead of q^2
        counts = np.bincount(np.asarray(block.group_index) * q + column, w, minlength=block.n_levels * q)
        out[:, np.arange(q), np.arange(q)] = counts.reshape(block.n_levels, q)
        return out
    for a in range(q):
        for b in range(q):
            out[:, a, b] = np.bincount(block.group_index, w * Z[:, a] * Z[:, b], minlength=block.n_levels)
    return out


def one_block_data(block, y: np.ndarray, weights: np.ndarray | None, cell_index: np.ndarray | None) -> OneBlockData:
    """The integrated-out block's :class:`OneBlockData` for response ``y`` and the rows' cells (None: one
    cell per row)."""
    y = np.asarray(y, dtype=float)
    w = np.ones(y.size) if weights is None else np.asarray(weights, dtype=float)
    Z = np.asarray(block.Z, dtype=float)
    Zw = Z * w[:, None]
    if cell_index is None:
        mean, cell_w, within = y, w, np.zeros_like(y)
    else:
        cell_w = np.bincount(cell_index, w)
        mean = np.bincount(cell_index, w * y) / np.maximum(cell_w, 1e-300)
        within = y - mean[cell_index]
    Zte0 = np.stack([np.bincount(block.group_index, Zw[:, a] * within, minlength=block.n_levels)
                     for a in range(Zw.shape[1])], axis=1)
    ZtZ = level_cross_products(block, weights)
    return OneBlockData(as_float(ZtZ), as_float(Zte0), as_float(np.sum(w * within ** 2)), as_float(np.sum(w)),
                        as_float(mean), as_float(cell_w), _level_sums(block, Zw, cell_index, mean.size),
                        kinds=level_kinds(ZtZ))


def _level_sums(block, Zw: np.ndarray, cell_index: np.ndarray | None, n_cells: int) -> SparseSums:
    """``A`` of :class:`OneBlockData`: a nonzero ``w Z[row, column]`` at (``level * q + column``, the row's cell) for
    each row and nonzero column (one per row for an indicator ``Z``, a positional structure's)."""
    q = Zw.shape[1]
    row, column = np.nonzero(Zw)
    level = np.asarray(block.group_index, dtype=np.int64)[row]
    values = Zw[row, column]
    return sparse_sums(level * q + column, row if cell_index is None else np.asarray(cell_index)[row],
                       None if np.all(values == 1.0) else values, block.n_levels * q, n_cells)


#: :func:`level_kinds` groups the levels when they hold at most this share as many distinct ``Z_l' W Z_l``
KIND_SHARE = 0.25


def level_kinds(ZtZ: np.ndarray):
    """``(distinct Z_l' W Z_l (U, q, q), each level's (L,), how many levels have each (U,))`` when the levels hold
    at most ``KIND_SHARE`` as many distinct matrices as levels, else None. An intercept-only block without weights
    has ``Z_l' Z_l = n_l``, its level's row count: InstEval's 2,972 students have 86 distinct counts, so the
    per-level factor ``M_l`` of the marginal, its square root and logarithm are taken 86 times per step instead
    of 2,972 (the levels' solves gather them)."""
    distinct, kind, count = np.unique(ZtZ.reshape(ZtZ.shape[0], -1), axis=0, return_inverse=True, return_counts=True)
    if distinct.shape[0] > KIND_SHARE * ZtZ.shape[0]:
        return None
    return (as_float(distinct.reshape((-1,) + ZtZ.shape[1:])), on_device(kind.ravel().astype(np.int32)),
            as_float(count))


def indicator_columns(Z: np.ndarray) -> np.ndarray | None:
    """Each row's one nonzero column when ``Z`` (rows x q, q > 1) holds a single 1 per row, else None: ``Z_l'WZ_l``
    is then diagonal, one count per level and column, and the linear predictor gathers one effect per row."""
    if Z.ndim != 2 or Z.shape[1] < 2 or not np.all((Z == 0.0) | (Z == 1.0)) or np.any(Z.sum(axis=1) != 1.0):
        return None
    return np.argmax(Z, axis=1)


def cell_statistics(data: OneBlockData, eta_cells):
    """``(Z_l' W e_l per level, e' W e)`` from the cells' linear predictor (see the note above)."""
    d = data.cell_mean - eta_cells
    Zte = data.Zte0 + apply_sums(data.sums, d).reshape(data.Zte0.shape)
    return Zte, data.ss_within + data.cell_weight @ (d * d)


def _one_block(factor, sigma, level_ZtZ, Zte):
    M = jnp.eye(factor.shape[0]) + jnp.einsum("ji,ljk,km->lim", factor, level_ZtZ, factor) / sigma**2
    return _small_cholesky(M), Zte @ factor


def one_block_log_likelihood(factor, sigma, level_ZtZ, Zte, ete, n, kinds=None):
    """log N(e | 0, sigma^2 I + Z T T' Z') for one block (``T = I_L (x) factor``), per level by Woodbury, from
    ``Zte`` (L, q), the level sums ``Z_l' W e_l``, and ``ete = e' W e``; ``n``: the weights' sum. With ``kinds``
    (:func:`level_kinds`) the factors are taken once per distinct ``Z_l' W Z_l`` and gathered per level."""
    distinct, kind, count = (level_ZtZ, None, None) if kinds is None else kinds
    C, Wr = _one_block(factor, sigma, distinct, Zte)
    half = forward_solve(C if kind is None else [[c if c is None else c[kind] for c in row] for row in C], Wr)
    quad = (ete - jnp.sum(half * half) / sigma**2) / sigma**2
    log_diagonal = sum(jnp.log(C[i][i]) for i in range(len(C)))
    logdet = n * jnp.log(sigma**2) + 2 * (jnp.sum(log_diagonal) if count is None else count @ log_diagonal)
    return -0.5 * (n * jnp.log(2 * jnp.pi) + logdet + quad)


def one_block_effects(factor, sigma, level_ZtZ, Zte, noise):
    """One draw of the integrated-out block's effects (L, q) from their exact conditional given the residuals."""
    C, Wr = _one_block(factor, sigma, level_ZtZ, Zte)
    u = backward_solve(C, forward_solve(C, Wr)) / sigma**2 + backward_solve(C, noise.reshape(Wr.shape))
    return u @ factor.T
