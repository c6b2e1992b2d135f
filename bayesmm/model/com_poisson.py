"""The Conway-Maxwell-Poisson distribution in brms's parameterisation (``brms::com_poisson``), for under- and
over-dispersed counts (jax).

``P(y) = (mu^y / y!)^nu / Z(mu, nu)``, ``Z = sum_j (mu^j / j!)^nu``: ``nu`` (brms's ``shape``) above 1 gives
under-dispersion, below 1 over-dispersion, 1 the Poisson; ``mu`` (log link) is the mode's neighbour
``lambda^(1 / nu)`` of Shmueli et al.'s ``lambda``, not the mean (the mean is about ``mu + 1 / (2 nu) - 1 / 2``).

``log Z`` is a log-sum-exp over a window of :data:`WINDOW` whole numbers around the mode ``floor(mu)`` while that
window spans at least 8 SDs (``mu / nu <= (WINDOW / 16)^2 = 64``, the SD being about ``sqrt(mu / nu)``): the terms
it leaves out are below ``exp(-32)`` of the largest, so the sum is exact to float64. Beyond, ``Z`` follows Gaunt et
al.'s asymptotic expansion (2019, *Annals of the Institute of Statistical Mathematics* 71) to four terms, as brms's
``log_Z_com_poisson_approx``; just past the switch its error in ``log Z`` is below 1e-6 for ``nu >= 0.5`` and
shrinks fast as ``nu mu`` grows (checked against the full series in tests/model/test_com_poisson.py), but reaches
2e-4 at ``nu = 0.3`` and 2e-3 at ``nu = 0.2``: strong over-dispersion with means above ``64 nu`` is approximate
(the negative binomial is the family for over-dispersion; this one is for under-dispersion). The window is kept
short because each row's normaliser costs ``WINDOW`` terms per gradient. Means and draws use the window
in the same range; beyond it, the mean is the expansion's ``mu + 1 / (2 nu) - 1 / 2`` and draws are rounded
normals of variance ``mu / nu``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpyro.distributions as dist
from jax import lax
from numpyro.distributions import constraints

__all__ = ["ComPoisson", "WINDOW", "log_normaliser"]

#: the number of whole numbers the series sums, centred on the mode
WINDOW = 128


def _series_range(mu, nu):
    return mu / nu <= (WINDOW / 16.0) ** 2


def _window(mu):
    """(rows..., WINDOW) whole numbers from ``max(0, floor(mu) - WINDOW / 2)``."""
    start = jnp.maximum(jnp.floor(lax.stop_gradient(mu)) - WINDOW // 2, 0.0)
    return start[..., None] + jnp.arange(WINDOW, dtype=start.dtype)


def _log_terms(j, log_mu, nu):
    """``nu (j log mu - lgamma(j + 1))`` over the window ``j``; the log-gammas from the window's first one and a
    running sum of logs: one log-gamma per row instead of one per term (a fit of 300 rows, 2 chains x 1000
    iterations: 31 s with a log-gamma per term, 8 s so; the poisson takes 3 s)."""
    logs = jnp.log(j + 1.0)
    log_factorials = jsp.gammaln(j[..., :1] + 1.0) + jnp.cumsum(logs, axis=-1) - logs
    return nu[..., None] * (j * log_mu[..., None] - log_factorials)


def _asymptotic(log_mu, nu):
    """Gaunt et al.'s expansion of ``log Z`` (brms's ``log_Z_com_poisson_approx``)."""
    nu_mu, nu2 = nu * jnp.exp(log_mu), nu * nu
    residual = jnp.log1p((nu2 - 1) / 24 / nu_mu + (nu2 - 1) * (nu2 + 23) / 1152 / nu_mu ** 2
                         + (nu2 - 1) * (5 * nu2 ** 2 - 298 * nu2 + 11237) / 414720 / nu_mu ** 3)
    return nu_mu + residual - ((jnp.log(2 * jnp.pi) + log_mu) * (nu - 1) + jnp.log(nu)) / 2


def log_normaliser(log_mu, nu):
    """``log Z(mu, nu)``: the windowed series, or the asymptotic expansion where the window is too narrow. Each
    branch sees a stand-in where the other is taken."""
    log_mu, nu = jnp.broadcast_arrays(log_mu, nu)
    mu = jnp.exp(log_mu)
    series = _series_range(mu, nu)
    s_log_mu, s_nu = jnp.where(series, log_mu, 0.0), jnp.where(series, nu, 1.0)
    by_series = jsp.logsumexp(_log_terms(_window(jnp.exp(s_log_mu)), s_log_mu, s_nu), axis=-1)
    a_log_mu, a_nu = jnp.where(series, 6.0, log_mu), jnp.where(series, 1.0, nu)
    return jnp.where(series, by_series, _asymptotic(a_log_mu, a_nu))


class ComPoisson(dist.Distribution):
    """Conway-Maxwell-Poisson with ``mu`` (brms's, positive) and ``nu`` (brms's ``shape``)."""

    arg_constraints = {"mu": constraints.positive, "nu": constraints.positive}
    support = constraints.nonnegative_integer
    pytree_data_fields = ("mu", "nu")

    def __init__(self, mu, nu, *, validate_args=None):
        self.mu, self.nu = jnp.broadcast_arrays(mu, nu)
        super().__init__(jnp.shape(self.mu), validate_args=validate_args)

    def log_prob(self, value):
        log_mu = jnp.log(self.mu)
        return self.nu * (value * log_mu - jsp.gammaln(value + 1.0)) - log_normaliser(log_mu, self.nu)

    def _window_probabilities(self):
        j = _window(self.mu)
        log_terms = _log_terms(j, jnp.log(self.mu), self.nu)
        return j, jnp.exp(log_terms - jsp.logsumexp(log_terms, axis=-1, keepdims=True))

    def sample(self, key, sample_shape=()):
        k_window, k_normal = jax.random.split(key)
        shape = sample_shape + self.batch_shape
        j, probabilities = self._window_probabilities()
        index = jax.random.categorical(k_window, jnp.log(probabilities), shape=shape)
        in_window = jnp.take_along_axis(jnp.broadcast_to(j, shape + j.shape[-1:]), index[..., None], -1)[..., 0]
        normal = jnp.round(self.mu + jnp.sqrt(self.mu / self.nu) * jax.random.normal(k_normal, shape))
        return jnp.where(_series_range(self.mu, self.nu), in_window, jnp.maximum(normal, 0.0))

    @property
    def mean(self):
        j, probabilities = self._window_probabilities()
        return jnp.where(_series_range(self.mu, self.nu), jnp.sum(j * probabilities, axis=-1),
                         self.mu + 1 / (2 * self.nu) - 0.5)
