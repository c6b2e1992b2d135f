"""Structured random-effect blocks in the model: the covariance factor of a block with a covariance structure
(``ar1``, ``ou``, ``cs``, ``exp``, ``gau``, ``mat``: :mod:`bayesmm.structures`), and the exact per-level marginal of a
gaussian model's ``ar1``/``ou`` block by its tridiagonal precision.

A structured block's effects per level are ``F z`` with ``z`` standard normal and ``F = diag(sd) chol(R(param))``
(whitened, non-centred coordinates); the dense Woodbury marginal (:mod:`.marginal`) takes the same ``F``.

For an ``ar1``/``ou`` block integrated out level by level, with ``Sigma = sd^2 R`` and ``D_l`` the (diagonal)
counts of level ``l``'s rows at each time, the matrix determinant lemma and Woodbury give per level::

    log|sigma^2 I + Z Sigma Z'| = n_l log sigma^2 + log|Sigma| + log|P_l|,   P_l = Sigma^-1 + D_l / sigma^2
    e' (sigma^2 I + Z Sigma Z')^-1 e = e'e / sigma^2 - b_l' P_l^-1 b_l,       b_l = Z_l'e_l / sigma^2

where ``R^-1`` and so ``P_l`` are tridiagonal (:func:`bayesmm.structures.markov_precision`): one Cholesky
recursion over the times for all levels at once, O(levels x times) per gradient.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..hsgp import spectral_density
from ..structures import cholesky, markov_precision, markov_steps

__all__ = ["structure_factor", "markov_log_likelihood", "markov_effects", "tridiagonal_cholesky", "MARKOV"]

#: structures integrated out of a gaussian model level by level on their tridiagonal precision
MARKOV = ("ar1", "ou")


def structure_factor(kind: str, sd, param, positions):
    """``diag(sd) chol(R)`` (q x q): ``sd`` one value (positional structures) or one per column (``cs``). An
    approximated block (``gau_hsgp``: :mod:`bayesmm.hsgp`; ``positions`` its basis functions' frequencies) has the
    diagonal factor ``sd sqrt(S(frequency))``."""
    if kind.endswith("_hsgp"):
        return jnp.diag(sd[0] * jnp.sqrt(spectral_density(kind[:-len("_hsgp")], param, positions, jnp)))
    return sd[:, None] * cholesky(kind, param, positions, jnp)


def _tridiagonal(kind, sd, param, positions, sigma, counts):
    """The per-level precision ``P_l`` as (diagonal (L, q), off-diagonal (q - 1,)), and ``log|Sigma|``."""
    diagonal, off, logdet_r = markov_precision(markov_steps(kind, param, positions, jnp), jnp)
    q = diagonal.shape[0]
    return diagonal / sd**2 + counts / sigma**2, off / sd**2, q * jnp.log(sd**2) + logdet_r


def tridiagonal_cholesky(diagonal, off, rhs):
    """Lower bidiagonal Cholesky factor of each level's tridiagonal matrix (diagonal (L, q), shared off-diagonal
    (q - 1,)) and ``h = C^-1 rhs``: returns (C's diagonal (q, L), C's sub-diagonal (q, L), h (q, L))."""
    off_before = jnp.concatenate([jnp.zeros(1), off])

    def step(carry, inputs):
        c_prev, h_prev = carry
        d, o, b = inputs
        m = o / c_prev
        c = jnp.sqrt(d - m * m)
        h = (b - m * h_prev) / c
        return (c, h), (c, m, h)

    start = (jnp.ones(diagonal.shape[0]), jnp.zeros(diagonal.shape[0]))
    _, (c, m, h) = jax.lax.scan(step, start, (diagonal.T, off_before, rhs.T))
    return c, m, h


def markov_log_likelihood(kind, sd, param, positions, sigma, level_ZtZ, Zte, ete, n):
    """log N(e | 0, sigma^2 I + Z Sigma Z') of an ``ar1``/``ou`` block integrated out level by level, from the
    level sums ``Zte = Z_l' W e_l`` (L, q), ``ete = e' W e`` and ``n`` (the weights' sum); ``level_ZtZ`` (L, q, q)
    is diagonal (one indicator column per time)."""
    counts = jnp.diagonal(level_ZtZ, axis1=1, axis2=2)
    diagonal, off, logdet_sigma = _tridiagonal(kind, sd[0], param, positions, sigma, counts)
    c, _, h = tridiagonal_cholesky(diagonal, off, Zte / sigma**2)
    levels = counts.shape[0]
    logdet = n * jnp.log(sigma**2) + levels * logdet_sigma + 2.0 * jnp.sum(jnp.log(c))
    quad = ete / sigma**2 - jnp.sum(h * h)
    return -0.5 * (n * jnp.log(2 * jnp.pi) + logdet + quad)


def markov_effects(kind, sd, param, positions, sigma, level_ZtZ, Zte, noise):
    """One draw of the block's effects (L, q) from their exact conditional ``N(P_l^-1 b_l, P_l^-1)``."""
    counts = jnp.diagonal(level_ZtZ, axis1=1, axis2=2)
    diagonal, off, _ = _tridiagonal(kind, sd[0], param, positions, sigma, counts)
    c, m, h = tridiagonal_cholesky(diagonal, off, Zte / sigma**2)
    v = h + noise.reshape(h.shape)
    m_after = jnp.concatenate([m[1:], jnp.zeros((1, m.shape[1]))])  # C[i+1, i]

    def back(x_next, inputs):
        c_i, m_i, v_i = inputs
        x = (v_i - m_i * x_next) / c_i
        return x, x

    _, x = jax.lax.scan(back, jnp.zeros(c.shape[1]), (c, m_after, v), reverse=True)
    return x.T
