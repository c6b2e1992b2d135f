"""The random effects' side of the Laplace approximation: their Hessian, its factor, the inner Newton solve.

The sampled random effects ``u`` (sites ``z_k``, standardised) enter the potential ``U(theta, u)`` through the
rows' linear predictors. Two effects interact in the Hessian ``H = d2U/du2`` only when a row holds both, so ``H``
is recovered from a few Hessian-vector products (Curtis, Powell and Reid's column compression; Coleman and
Moré's symmetric recovery): the levels of the block with the most levels (``big``) never share a row, so all
its levels' column ``j`` share one product, and every other effect gets its own. ``H`` is kept in that shape:
``D`` (levels x q x q: the big block's per-level blocks), ``C`` (its coupling to the rest) and ``E`` (the rest);
solves and the log-determinant go through the Schur complement ``E - C' D^-1 C`` (a block-diagonal solve and
one small dense Cholesky), as lme4's sparse Cholesky does for crossed factors.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import sparse

__all__ = ["EffectLayout", "effect_layout", "hessian_parts", "factorize", "solve", "log_det", "draw_effects",
           "newton"]


class EffectLayout(NamedTuple):
    """Where the sampled random effects lie in the vector ``u``: ``big`` the slice of the block with the most
    levels (``levels`` x ``q``, level-major), ``rest`` the indices of all others; ``seeds`` the products'
    directions (q for the big block's columns, then one per colour of the others); ``rest_colour`` the colour of
    each other effect; ``big_mask`` and ``rest_mask`` where ``H`` may be non-zero between the big block and the
    rest and within the rest (the products' sums are read only there)."""

    size: int
    big: tuple  # (start, levels, q)
    rest: np.ndarray
    seeds: np.ndarray
    rest_colour: np.ndarray
    big_mask: np.ndarray
    rest_mask: np.ndarray


def _pattern(shapes, indices):
    """Which effects share a row (the non-zeros of ``H``), effect by effect, from each block's level per row."""
    rows = indices[0].shape[0]
    starts = np.concatenate([[0], np.cumsum([levels * q for levels, q in shapes])])[:-1]
    columns = [starts[k] + indices[k][:, None] * q + np.arange(q)[None, :] for k, (_, q) in enumerate(shapes)]
    touched = np.concatenate(columns, axis=1)  # rows x (sum of q)
    size = int(sum(levels * q for levels, q in shapes))
    incidence = sparse.csr_matrix((np.ones(touched.size), (np.repeat(np.arange(rows), touched.shape[1]),
                                                           touched.ravel())), shape=(rows, size))
    return (incidence.T @ incidence).astype(bool).tocsr()


def _colours(pattern) -> np.ndarray:
    """A greedy distance-2 colouring of ``pattern``'s columns (Curtis, Powell and Reid): two share a colour only
    when no row of ``H`` holds both, so one product per colour recovers their columns."""
    conflicts = (pattern.T.astype(np.int32) @ pattern.astype(np.int32)).tocsr()
    colour = np.full(pattern.shape[1], -1)
    for j in range(pattern.shape[1]):
        used = set(colour[conflicts.indices[conflicts.indptr[j]:conflicts.indptr[j + 1]]])
        colour[j] = next(c for c in range(len(used) + 1) if c not in used)
    return colour


def effect_layout(shapes: list[tuple[int, int]], indices: list | None = None) -> EffectLayout:
    """The layout of the sites ``z_k`` shaped ``(levels, q)``, in the order given; ``indices``: each block's level
    per row (without them, every effect outside the big block gets its own product)."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    starts = np.concatenate([[0], np.cumsum(sizes)])[:-1].astype(int)
    size = int(sum(sizes))
    if not shapes:
        empty = np.zeros((0, 0), bool)
        return EffectLayout(0, (0, 0, 0), np.zeros(0, int), np.zeros((0, 0)), np.zeros(0, int), empty, empty)
    k = int(np.argmax([shape[0] for shape in shapes]))
    levels, q = shapes[k]
    start = int(starts[k])
    big = np.arange(start, start + levels * q)
    rest = np.setdiff1d(np.arange(size), big)
    if indices is None:
        colour = np.arange(rest.size)
        big_mask, rest_mask = np.ones((big.size, rest.size), bool), np.ones((rest.size, rest.size), bool)
    else:
        pattern = _pattern(shapes, [np.asarray(i) for i in indices])
        colour = _colours(pattern[:, rest]) if rest.size else np.zeros(0, int)
        big_mask = pattern[big][:, rest].toarray()
        rest_mask = pattern[rest][:, rest].toarray()
    seeds = np.zeros((q + (colour.max() + 1 if rest.size else 0), size))
    for j in range(q):
        seeds[j, start + j:start + levels * q:q] = 1.0
    seeds[q + colour, rest] = 1.0
    return EffectLayout(size, (start, int(levels), int(q)), rest, seeds, colour, big_mask, rest_mask)


class HessianParts(NamedTuple):
    D: jnp.ndarray  # (levels, q, q)
    C: jnp.ndarray  # (levels * q, rest)
    E: jnp.ndarray  # (rest, rest)


def hessian_parts(hvp, layout: EffectLayout, batch: int = 16) -> HessianParts:
    """``H`` from ``hvp(direction)`` over :attr:`EffectLayout.seeds` (``lax.map`` in batches: each product runs
    over every row)."""
    start, levels, q = layout.big
    seeds = jnp.asarray(layout.seeds)
    products = jax.lax.map(hvp, seeds, batch_size=min(batch, seeds.shape[0]))  # row s: H @ seed s
    big = products[:q, start:start + levels * q].reshape(q, levels, q)  # [b, l, a] = H[(l, a), (l, b)]
    D = jnp.transpose(big, (1, 2, 0))
    D = 0.5 * (D + jnp.swapaxes(D, 1, 2))
    rest_products = products[q + jnp.asarray(layout.rest_colour)]  # row r: the product of r's colour
    C = jnp.where(jnp.asarray(layout.big_mask), rest_products[:, start:start + levels * q].T, 0.0)
    E = jnp.where(jnp.asarray(layout.rest_mask), rest_products[:, layout.rest], 0.0)
    return HessianParts(D, C, 0.5 * (E + E.T))


class Factor(NamedTuple):
    chol_D: jnp.ndarray  # (levels, q, q) lower
    D_inv_C: jnp.ndarray  # (levels * q, rest)
    chol_S: jnp.ndarray  # (rest, rest) lower Cholesky factor of the Schur complement


def _block_solve(chol_D, x):
    """``D^-1 x`` for ``x`` shaped (levels * q, m)."""
    levels, q, _ = chol_D.shape
    x = x.reshape(levels, q, -1)
    y = jax.scipy.linalg.cho_solve((chol_D, True), x) if q > 1 else x / (chol_D ** 2)
    return y.reshape(levels * q, -1)


def factorize(parts: HessianParts) -> Factor:
    chol_D = jnp.linalg.cholesky(parts.D)
    D_inv_C = _block_solve(chol_D, parts.C)
    schur = parts.E - parts.C.T @ D_inv_C
    return Factor(chol_D, D_inv_C, jnp.linalg.cholesky(0.5 * (schur + schur.T)))


def _split(layout: EffectLayout, x):
    start, levels, q = layout.big
    return x[start:start + levels * q], x[layout.rest]


def _join(layout: EffectLayout, big, rest):
    start, levels, q = layout.big
    return jnp.zeros(layout.size, big.dtype).at[start:start + levels * q].set(big).at[layout.rest].set(rest)


def solve(layout: EffectLayout, factor: Factor, g):
    """``H^-1 g``."""
    g_big, g_rest = _split(layout, g)
    y_big = _block_solve(factor.chol_D, g_big[:, None])[:, 0]
    x_rest = jax.scipy.linalg.cho_solve((factor.chol_S, True), g_rest - factor.D_inv_C.T @ g_big)
    return _join(layout, y_big - factor.D_inv_C @ x_rest, x_rest)


def log_det(factor: Factor):
    """``log det H`` = log det D + log det (E - C' D^-1 C)."""
    diag_D = jnp.diagonal(factor.chol_D, axis1=1, axis2=2)
    return 2.0 * (jnp.sum(jnp.log(diag_D)) + jnp.sum(jnp.log(jnp.diagonal(factor.chol_S))))


def draw_effects(layout: EffectLayout, factor: Factor, noise):
    """A draw from N(0, H^-1) from standard normal ``noise`` (size ``layout.size``): the rest from its
    marginal (precision: the Schur complement), the big block given the rest (precision D, mean -D^-1 C x)."""
    n_big, n_rest = _split(layout, noise)
    x_rest = jax.scipy.linalg.solve_triangular(factor.chol_S, n_rest, lower=True, trans=1)
    levels, q, _ = factor.chol_D.shape
    own = jax.scipy.linalg.solve_triangular(factor.chol_D, n_big.reshape(levels, q, 1), lower=True, trans=1)
    return _join(layout, own.reshape(-1) - factor.D_inv_C @ x_rest, x_rest)


def newton(value, gradient, parts, layout: EffectLayout, u0, tolerance: float = 1e-10, iterations: int = 100):
    """The mode of ``value(u)`` (convex in the random effects for the families' usual links) by Newton's method
    with step halving: each step ``-H^-1 g``, halved up to 30 times until the value does not rise; it stops when
    the Newton decrement ``g' H^-1 g`` falls below ``tolerance`` (or after ``iterations``). ``parts(u)`` gives the
    Hessian's :class:`HessianParts`."""
    def direction(u):
        g = gradient(u)
        step = solve(layout, factorize(parts(u)), g)
        usable = jnp.all(jnp.isfinite(step))
        return jnp.where(usable, step, g), jnp.where(usable, jnp.dot(g, step), jnp.inf)

    def halve(carry):
        t, _, tries, u, step, f0 = carry
        t = t * 0.5
        return t, value(u - t * step), tries + 1, u, step, f0

    def keeps_halving(carry):
        _, f, tries, _, _, f0 = carry
        return (tries < 30) & ~(f <= f0)

    def body(carry):
        u, f0, it, _ = carry
        step, decrement = direction(u)
        t, f, _, _, _, _ = jax.lax.while_loop(keeps_halving, halve, (1.0, value(u - step), 0, u, step, f0))
        moved = f <= f0
        u_next = jnp.where(moved, u - t * step, u)
        return u_next, jnp.where(moved, f, f0), it + 1, jnp.where(moved, decrement, 0.0)

    def going(carry):
        _, _, it, decrement = carry
        return (it < iterations) & (decrement > tolerance)

    u, _, it, decrement = jax.lax.while_loop(going, body, (u0, value(u0), 0, jnp.inf))
    return u, it
