"""softplus, ``log(1 + exp(x))``, for the NB2 likelihood's rows (:class:`~.likelihoods.TabledCounts`): its
magnitude in 64 bits and its bounded correction from float32 arithmetic, with a derivative that reuses the
value's exponential."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["softplus", "NEAR"]


#: below this |x|, :func:`_correction` takes ``log1p(e)``; above it ``e (1 - e / 2)``, within 1e-21 of it
NEAR = 16.0


def _correction(x):
    """``(log1p(e), logistic(x))`` in ``x``'s precision with ``e = exp(-|x|)`` from float32 arithmetic. The
    correction of softplus lies in ``(0, log 2]`` and comes out to a relative 3e-7 for ``|x|`` up to 87 (beyond,
    where it is below float32's 1.2e-38, as zero: an NB2 ``phi`` above 1e38 ``mu``), while the magnitude,
    ``max(x, 0)``, stays in 64 bits. float32 exponentials and logarithms take half the time of float64's on a CPU's vector units, and they are
    most of the NB2 likelihood's cost per row (``benchmarks/README.md``, many small groups). ``e = 2^-(k + r)``
    with ``k`` whole and ``r`` in [0, 1): ``2^-r`` in float32 and ``2^-k`` exactly from its exponent bits, since
    float32's rounding of ``|x|`` itself would cost a relative ``|x|`` 6e-8. The relative accuracy matters near
    the NB2's poisson limit (``x = eta - log phi`` very negative), where ``phi * softplus(x)`` is ``mu``."""
    b = jnp.abs(x) * np.log2(np.e)
    k = jnp.minimum(jnp.floor(b), 126.0)
    two = lax.bitcast_convert_type((127 - k.astype(jnp.int32)) << 23, jnp.float32)  # 2^-k
    small = jnp.exp2(-(b - k).astype(jnp.float32)) * two
    e = small.astype(x.dtype)
    tail = jnp.where(b < NEAR * np.log2(np.e), jnp.log1p(small).astype(x.dtype), e * (1.0 - 0.5 * e))
    share = 1.0 / (1.0 + small)
    return tail, jnp.where(x >= 0, share, small * share).astype(x.dtype)


@jax.custom_jvp
def softplus(x):
    """``log(1 + exp(x))``, as ``jax.nn.softplus``, with a derivative (the logistic function) that reuses the
    value's ``exp(-|x|)``: two transcendental functions per element for value and gradient where
    ``jax.nn.softplus`` (``logaddexp``) takes four, both in float32 for the bounded correction term
    (:func:`_correction`)."""
    return jnp.maximum(x, 0.0) + _correction(x)[0]


@softplus.defjvp
def _softplus_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    tail, logistic = _correction(x)
    return jnp.maximum(x, 0.0) + tail, logistic * dx
