"""Distributions with point masses at the ends of their support (jax): hurdles of continuous families, zeros
inflating a binomial, zero-one-inflated beta and ordered beta. All log densities are formed on the log scale;
each point mass is a separate branch, and the continuous part is evaluated at a stand-in value on the rows that
take a point mass, so no NaN (and no NaN gradient) leaks through a ``where``.

* :class:`ContinuousHurdle` (brms's ``hurdle_gamma``, ``hurdle_lognormal``): ``P(y = 0) = hu``, ``y > 0`` from
  ``(1 - hu)`` times the positive family's density; mean ``(1 - hu) E[base]``.
* :class:`InflatedZeros` (``zero_inflated_binomial``): ``P(0) = zi + (1 - zi) f(0)`` by a log-sum-exp,
  ``P(y) = (1 - zi) f(y)`` above 0; mean ``(1 - zi) E[base]``.
* :class:`ZeroOneInflatedBeta` (brms's ``zero_one_inflated_beta``): ``P(y in {0, 1}) = zoi``, of which a share
  ``coi`` at 1; in between ``(1 - zoi) Beta(mu phi, (1 - mu) phi)``; mean ``zoi coi + (1 - zoi) mu``.
* :class:`OrderedBeta` (Kubinec 2023, *Political Analysis* 31(4); glmmTMB's ``ordbeta``): cut points ``k_1 <
  k_2`` on the logit scale, ``P(y = 0) = 1 - expit(eta - k_1)``, ``P(y = 1) = expit(eta - k_2)``, in between
  ``(expit(eta - k_1) - expit(eta - k_2)) Beta(mu phi, (1 - mu) phi)`` with ``mu = expit(eta)``; the middle
  probability is ``log expit(eta - k_1) + log1mexp(log expit(eta - k_2) - log expit(eta - k_1))``, exact at both
  ends.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpyro.distributions as dist
from jax import lax
from numpyro.distributions import constraints

from .cdfs import log1mexp

__all__ = ["ContinuousHurdle", "InflatedZeros", "ZeroOneInflatedBeta", "OrderedBeta"]


def _shape(*arrays):
    return lax.broadcast_shapes(*(jnp.shape(a) for a in arrays))


class ContinuousHurdle(dist.Distribution):
    """``P(y = 0) = gate``; ``y > 0`` from ``(1 - gate)`` times ``base_dist``, a positive continuous family."""

    arg_constraints = {}
    support = constraints.nonnegative
    pytree_data_fields = ("base_dist", "gate")

    def __init__(self, base_dist, gate, *, validate_args=None):
        self.base_dist, self.gate = base_dist, gate
        super().__init__(_shape(jnp.zeros(base_dist.batch_shape), gate), validate_args=validate_args)

    def log_prob(self, value):
        positive = jnp.log1p(-self.gate) + self.base_dist.log_prob(jnp.where(value > 0, value, 1.0))
        return jnp.where(value == 0, jnp.log(self.gate), positive)

    def sample(self, key, sample_shape=()):
        k_gate, k_base = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        draws = jnp.broadcast_to(self.base_dist.sample(k_base, sample_shape), shape)
        return jnp.where(jax.random.bernoulli(k_gate, jnp.broadcast_to(self.gate, shape)), 0.0, draws)

    @property
    def mean(self):
        return (1 - self.gate) * self.base_dist.mean


class InflatedZeros(dist.Distribution):
    """``P(0) = gate + (1 - gate) f(0)`` (a log-sum-exp), ``P(y) = (1 - gate) f(y)`` above 0."""

    arg_constraints = {}
    support = constraints.nonnegative_integer
    pytree_data_fields = ("base_dist", "gate")

    def __init__(self, base_dist, gate, *, validate_args=None):
        self.base_dist, self.gate = base_dist, gate
        super().__init__(_shape(jnp.zeros(base_dist.batch_shape), gate), validate_args=validate_args)

    def log_prob(self, value):
        nonzero = jnp.log1p(-self.gate) + self.base_dist.log_prob(value)
        return jnp.where(value == 0, jnp.logaddexp(jnp.log(self.gate), nonzero), nonzero)

    def sample(self, key, sample_shape=()):
        k_gate, k_base = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        draws = jnp.broadcast_to(self.base_dist.sample(k_base, sample_shape), shape)
        return jnp.where(jax.random.bernoulli(k_gate, jnp.broadcast_to(self.gate, shape)), 0, draws)

    @property
    def mean(self):
        return (1 - self.gate) * self.base_dist.mean


def _beta_log_density(value, log_mu, log_one_minus_mu, phi):
    """The Beta(mu phi, (1 - mu) phi) log density at ``value`` strictly inside (0, 1) (a stand-in elsewhere)."""
    inside = jnp.where((value > 0) & (value < 1), value, 0.5)
    a, b = jnp.exp(log_mu) * phi, jnp.exp(log_one_minus_mu) * phi
    return ((a - 1) * jnp.log(inside) + (b - 1) * jnp.log1p(-inside)
            - (jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)))


def _beta_draws(key, eta, phi, shape):
    mu = jax.nn.sigmoid(eta)
    return jax.random.beta(key, jnp.broadcast_to(mu * phi, shape), jnp.broadcast_to((1 - mu) * phi, shape))


class ZeroOneInflatedBeta(dist.Distribution):
    """brms's zero-one-inflated beta: ``eta`` the logit of the beta part's mean, precision ``phi``, ``zoi`` the
    probability of 0 or 1, ``coi`` the share of 1 among them."""

    arg_constraints = {}
    support = constraints.unit_interval
    pytree_data_fields = ("eta", "phi", "zoi", "coi")

    def __init__(self, eta, phi, zoi, coi, *, validate_args=None):
        self.eta, self.phi, self.zoi, self.coi = eta, phi, zoi, coi
        super().__init__(_shape(eta, phi, zoi, coi), validate_args=validate_args)

    def log_prob(self, value):
        ends = jnp.log(self.zoi) + jnp.where(value == 1, jnp.log(self.coi), jnp.log1p(-self.coi))
        inside = jnp.log1p(-self.zoi) + _beta_log_density(value, jax.nn.log_sigmoid(self.eta),
                                                          jax.nn.log_sigmoid(-self.eta), self.phi)
        return jnp.where((value == 0) | (value == 1), ends, inside)

    def sample(self, key, sample_shape=()):
        k_end, k_which, k_beta = jax.random.split(key, 3)
        shape = sample_shape + self.batch_shape
        end = jax.random.bernoulli(k_end, jnp.broadcast_to(self.zoi, shape))
        one = jax.random.bernoulli(k_which, jnp.broadcast_to(self.coi, shape)).astype(float)
        return jnp.where(end, one, _beta_draws(k_beta, self.eta, self.phi, shape))

    @property
    def mean(self):
        return self.zoi * self.coi + (1 - self.zoi) * jax.nn.sigmoid(self.eta)


class OrderedBeta(dist.Distribution):
    """Kubinec's ordered beta: ``eta`` on the logit scale, precision ``phi``, cut points ``low < high``."""

    arg_constraints = {}
    support = constraints.unit_interval
    pytree_data_fields = ("eta", "phi", "low", "high")

    def __init__(self, eta, phi, low, high, *, validate_args=None):
        self.eta, self.phi, self.low, self.high = eta, phi, low, high
        super().__init__(_shape(eta, phi, low, high), validate_args=validate_args)

    def _logs(self):
        """log P(y = 0), log P(0 < y < 1), log P(y = 1)."""
        above_low, above_high = jax.nn.log_sigmoid(self.eta - self.low), jax.nn.log_sigmoid(self.eta - self.high)
        middle = above_low + log1mexp(jnp.minimum(above_high - above_low, -1e-300))
        return jax.nn.log_sigmoid(self.low - self.eta), middle, above_high

    def log_prob(self, value):
        zero, middle, one = self._logs()
        inside = middle + _beta_log_density(value, jax.nn.log_sigmoid(self.eta), jax.nn.log_sigmoid(-self.eta),
                                            self.phi)
        return jnp.where(value == 0, zero, jnp.where(value == 1, one, inside))

    def sample(self, key, sample_shape=()):
        k_end, k_beta = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        zero, middle, _ = (jnp.broadcast_to(jnp.exp(p), shape) for p in self._logs())
        u = jax.random.uniform(k_end, shape)
        draws = _beta_draws(k_beta, self.eta, self.phi, shape)
        return jnp.where(u < zero, 0.0, jnp.where(u < zero + middle, draws, 1.0))

    @property
    def mean(self):
        _, middle, one = self._logs()
        return jnp.exp(one) + jnp.exp(middle) * jax.nn.sigmoid(self.eta)
