"""The LKJ prior on a correlation block's Cholesky factor, built element by element.

numpyro's ``LKJCholesky`` and its bijection (``CorrCholeskyTransform``) place the unconstrained values in the
lower triangle with a scatter-add (``vec_to_tril_matrix``) and read the diagonal and the triangle back with
gathers. On the CPU each of those is a loop of its own in the compiled program, in every gradient. A block has a
handful of columns, so here the factor is built from its elements with static indices: the same values (the
same signed stick-breaking of ``tanh(x)``, in the same order), the same log-Jacobian and the same LKJ density,
as arithmetic on the elements and stacks. sleepstudy's sampler compiles 0.3-0.4 s sooner and samples about 8%
faster (``benchmarks/README.md``, cold start). Blocks of more than :data:`ELEMENTWISE_MAX` columns keep
numpyro's.
"""
from __future__ import annotations

import jax.numpy as jnp
from jax.nn import softplus
from jax.scipy.special import gammaln, multigammaln
from numpyro.distributions import LKJCholesky, constraints
from numpyro.distributions.transforms import CorrCholeskyTransform, biject_to

__all__ = ["lkj_cholesky", "ElementwiseLKJCholesky", "ElementwiseCorrCholesky", "ELEMENTWISE_MAX"]

#: the most columns a block's factor is built element by element (its program grows as columns squared)
ELEMENTWISE_MAX = 8


class _ElementwiseCorrCholeskyConstraint(constraints._CorrCholesky):
    """``corr_cholesky``, whose bijection is :class:`ElementwiseCorrCholesky`."""


elementwise_corr_cholesky = _ElementwiseCorrCholeskyConstraint()


def _dimension(size: int) -> int:
    """The matrix dimension ``D`` of ``D (D - 1) / 2`` unconstrained values."""
    d = int(round((1 + (1 + 8 * size) ** 0.5) / 2))
    if d * (d - 1) // 2 != size:
        raise ValueError(f"{size} values are not the lower triangle of a square matrix")
    return d


class ElementwiseCorrCholesky(CorrCholeskyTransform):
    """numpyro's ``CorrCholeskyTransform`` (the same map, values order and log-Jacobian) without scatters or
    gathers: row ``i`` of the factor is ``(r_i0, r_i1 c_i1, ..., c_ii, 0, ...)`` with ``r = tanh(x)`` in
    ``vec_to_tril_matrix``'s order and ``c_ij = prod_{m<j} sqrt(1 - r_im^2)``."""

    codomain = elementwise_corr_cholesky

    def __call__(self, x):
        t = jnp.tanh(x)
        eps = jnp.finfo(t.dtype).eps
        t = jnp.clip(t, -1 + eps, 1 - eps)
        d = _dimension(t.shape[-1])
        zero = jnp.zeros(t.shape[:-1], t.dtype)
        rows, at = [], 0
        for i in range(d):
            row, scale = [], jnp.ones(t.shape[:-1], t.dtype)
            for j in range(i):
                r = t[..., at + j]
                row.append(r * scale)
                scale = scale * jnp.sqrt(1 - r * r)
            at += i
            rows.append(jnp.stack(row + [scale] + [zero] * (d - i - 1), axis=-1))
        return jnp.stack(rows, axis=-2)

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        d = y.shape[-1]
        logdet = jnp.zeros(x.shape[:-1], x.dtype)
        for i in range(2, d):  # the stick-breaking's: 1 - the running sums of squares along the row but its last two
            remaining = 1 - jnp.cumsum(y[..., i, :i - 1] * y[..., i, :i - 1], axis=-1)
            logdet = logdet + 0.5 * jnp.sum(jnp.log(remaining), axis=-1)
        return logdet - 2 * jnp.sum(x + softplus(-2 * x) - jnp.log(2.0), axis=-1)


@biject_to.register(_ElementwiseCorrCholeskyConstraint)
def _elementwise_bijection(constraint):
    return ElementwiseCorrCholesky()


class ElementwiseLKJCholesky(LKJCholesky):
    """numpyro's ``LKJCholesky`` (the same density and normalising constant, the same prior draws) on
    :data:`elementwise_corr_cholesky`, its diagonal read without a gather."""

    support = elementwise_corr_cholesky

    def log_prob(self, value):
        d = self.dimension
        diagonal = jnp.sum(value * jnp.eye(d, dtype=value.dtype), axis=-1)[..., 1:]
        order = 2 * jnp.expand_dims(self.concentration, axis=-1) - ((3 - d) + jnp.arange(1, d))
        unnormalized = jnp.sum(order * jnp.log(diagonal), axis=-1)
        return unnormalized - self._normalizer()

    def _normalizer(self):
        dm1 = self.dimension - 1
        alpha = self.concentration + 0.5 * dm1
        return 0.5 * dm1 * jnp.log(jnp.pi) + multigammaln(alpha - 0.5, dm1) - gammaln(alpha) * dm1


def lkj_cholesky(dimension: int, concentration: float):
    """The LKJ prior of a ``dimension``-column block: element by element up to :data:`ELEMENTWISE_MAX` columns."""
    law = ElementwiseLKJCholesky if dimension <= ELEMENTWISE_MAX else LKJCholesky
    return law(dimension, concentration)
