"""Autocorrelated gaussian residuals (``autocor=``, :mod:`bayesmm.autocor`), exactly and in O(rows).

A row ``t`` whose predecessor ``p`` in its series lies ``d`` time steps before it has ``phi_t = rho^d`` and::

    e_t = phi_t e_p + sqrt(1 - phi_t^2) sigma w_t,    w_t ~ N(0, 1)

(a series' first row: ``e_t = sigma w_t``), so the residuals' precision is tridiagonal per series and the
whitened residual ``(e_t - phi_t e_p) / sqrt(1 - phi_t^2)`` is white noise; the whitening's log-determinant is
``-1/2 sum_t log(1 - phi_t^2)``.

* Sampled effects (or none): :class:`AR1Normal` is each row's density given its predecessor's residual, the
  factorisation brms uses for ``ar()``; its per-row values are the pointwise log-likelihood LOO reads.
* Effects integrated out (the dense Woodbury marginal, :mod:`.marginal`): the whitening is linear, so the
  cross-products of the whitened ``A = [Z, X, y]`` are, per distinct step ``d``,
  ``(A_t'A_t - phi_d (A_t'A_p + A_p'A_t) + phi_d^2 A_p'A_p) / (1 - phi_d^2)`` plus the first rows' ``A'A``:
  three matrices per step kept once, and each gradient costs what the independent model's does.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ..plan.choose import PER_LEVEL_COLUMNS
from .arrays import as_float, on_device
from .marginal import MarginalData, full_z

__all__ = ["AutocorData", "autocor_data", "AR1Normal", "whitened_marginal", "whitening_log_det", "step_correlation"]


class AutocorData(NamedTuple):
    """Per row: ``previous`` (its predecessor; a first row points at itself), ``step`` (to it; 0 for first rows),
    ``order`` (the rows in series and time order); for the dense marginal (else None): the first rows' cross-products
    ``first``, the distinct ``steps`` with, per step, the count ``n_step`` and the cross-products ``lag0``
    (``A_t'A_t``), ``lag1`` (``A_t'A_p``), ``lag2`` (``A_p'A_p``), and for one
    block of few columns whose levels hold whole series, each level's coefficient indices ``level_index``."""

    previous: jnp.ndarray
    step: jnp.ndarray
    order: jnp.ndarray
    first: jnp.ndarray | None = None
    steps: jnp.ndarray | None = None
    n_step: jnp.ndarray | None = None
    lag0: jnp.ndarray | None = None
    lag1: jnp.ndarray | None = None
    lag2: jnp.ndarray | None = None
    level_index: jnp.ndarray | None = None


def step_correlation(rho, step):
    """``rho^step``, 0 where ``step`` is 0 (a series' first row)."""
    return jnp.where(step > 0, jnp.power(rho, step), 0.0)


def _whole_series(block, previous: np.ndarray) -> bool:
    """Whether every row shares its level with its predecessor (then the whitened Z stays block diagonal)."""
    rows = np.flatnonzero(previous >= 0)
    level = np.asarray(block.group_index)
    return bool(np.all(level[rows] == level[previous[rows]]))


def autocor_data(autocor, blocks, Xa: np.ndarray | None, target: np.ndarray | None) -> AutocorData:
    """The arrays of a design's :class:`~bayesmm.autocor.Autocor`; ``Xa`` (the fixed-effect columns, with the
    intercept's) and ``target`` (the response less any offset) for the dense marginal, else None."""
    previous = np.asarray(autocor.previous)
    has = previous >= 0
    rows = np.arange(previous.size)
    arrays = AutocorData(on_device(np.where(has, previous, rows)), as_float(autocor.step),
                         on_device(_time_order(previous)))
    if Xa is None:
        return arrays
    A = np.column_stack([full_z(blocks, previous.size), Xa, target])
    steps = np.unique(autocor.step[has])
    current = [np.flatnonzero(has & (autocor.step == d)) for d in steps]
    lagged = [A[previous[idx]] for idx in current]
    level_index = None
    if len(blocks) == 1 and blocks[0].n_columns <= PER_LEVEL_COLUMNS and _whole_series(blocks[0], previous):
        level_index = on_device(np.arange(blocks[0].n_levels * blocks[0].n_columns).reshape(blocks[0].n_levels, -1))
    return arrays._replace(
        first=as_float(A[~has].T @ A[~has]), steps=as_float(steps), n_step=as_float([len(i) for i in current]),
        lag0=as_float(np.stack([A[i].T @ A[i] for i in current])),
        lag1=as_float(np.stack([A[i].T @ P for i, P in zip(current, lagged)])),
        lag2=as_float(np.stack([P.T @ P for P in lagged])),
        level_index=level_index)


def _time_order(previous: np.ndarray) -> np.ndarray:
    """The rows ordered so that each comes after its predecessor (series by series, in time)."""
    n = previous.size
    following = np.full(n, -1)
    has = previous >= 0
    following[previous[has]] = np.flatnonzero(has)
    order, position = np.empty(n, dtype=np.int64), 0
    for start in np.flatnonzero(~has):
        row = start
        while row >= 0:
            order[position], position = row, position + 1
            row = following[row]
    return order


def whitened_marginal(data: AutocorData, rho, plain: MarginalData) -> MarginalData:
    """The dense marginal's cross-products (:class:`~.marginal.MarginalData`) of the whitened ``[Z, X, y]``;
    ``plain``: the unwhitened ones (for their shapes and the number of rows)."""
    phi = jnp.power(rho, data.steps)
    scale = 1.0 / (1.0 - phi * phi)
    cross = data.lag1 + jnp.swapaxes(data.lag1, -1, -2)
    G = data.first + jnp.einsum("d,dij->ij", scale, data.lag0 - phi[:, None, None] * cross
                                + (phi * phi)[:, None, None] * data.lag2)
    q = plain.ZtZ.shape[0]
    ZtZ, ZtX, Zty = G[:q, :q], G[:q, q:-1], G[:q, -1]
    md = MarginalData(ZtZ, ZtX, Zty, G[q:-1, q:-1], G[q:-1, -1], G[-1, -1], plain.n)
    if data.level_index is None:
        return md
    idx = data.level_index
    return md._replace(level_ZtZ=ZtZ[idx[:, :, None], idx[:, None, :]], level_ZtX=ZtX[idx], level_Zty=Zty[idx])


def whitening_log_det(data: AutocorData, rho):
    """``log |Q|`` of the whitening ``Q`` (``Q R Q' = I``): ``-1/2 sum_t log(1 - phi_t^2)``."""
    phi = jnp.power(rho, data.steps)
    return -0.5 * jnp.sum(data.n_step * jnp.log1p(-phi * phi))


class AR1Normal(dist.Distribution):
    """Gaussian rows with means ``loc``, SDs ``scale`` and AR(1) standardised residuals: each row's density given
    its predecessor's residual (``log_prob`` per row; their sum is the joint density)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    def __init__(self, loc, scale, rho, data: AutocorData):
        self.loc, self.scale, self.rho, self.data = loc, jnp.broadcast_to(scale, jnp.shape(loc)), rho, data
        super().__init__(batch_shape=jnp.shape(loc))

    def _phi(self):
        return step_correlation(self.rho, self.data.step)

    def log_prob(self, value):
        residual = (value - self.loc) / self.scale
        phi = self._phi()
        mean = phi * residual[self.data.previous]
        return dist.Normal(mean, jnp.sqrt(1.0 - phi * phi)).log_prob(residual) - jnp.log(self.scale)

    def conditional_mean(self, value):
        """Each row's mean given its predecessor's observed value (a first row's: ``loc``)."""
        residual = (value - self.loc) / self.scale
        return self.loc + self.scale * self._phi() * residual[self.data.previous]

    def sample(self, key, sample_shape=()):
        phi = self._phi()
        noise = jax.random.normal(key, tuple(sample_shape) + self.batch_shape)
        innovations = jnp.sqrt(1.0 - phi * phi) * noise

        def one(innovation):
            def step(residual, row):
                return residual.at[row].set(phi[row] * residual[self.data.previous[row]] + innovation[row]), None
            return jax.lax.scan(step, jnp.zeros_like(innovation), self.data.order)[0]

        flat = innovations.reshape((-1,) + self.batch_shape)
        residual = jax.vmap(one)(flat).reshape(innovations.shape)
        return self.loc + self.scale * residual
