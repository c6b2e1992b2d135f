"""Family name -> numpyro likelihood.

One entry per family: a function ``(eta, aux, trials) -> numpyro distribution`` where ``eta`` is the
linear predictor and ``aux`` holds the family's auxiliary parameters by name.  Logit-link bernoulli and
binomial are parameterised by logits (no probability is ever formed), poisson's log link by its rate.
Where a link can give a mean outside the family's range, counts (poisson, negbinomial) keep it above
``1e-12``: a positive count then has a steep, finite penalty (about ``-27 y``). For gamma's identity and
inverse links that does not work: at ``mu = 1e-12`` the gradient drives the shape to 0, where the density
no longer depends on ``mu`` and the chains stick (seen: Rhat 2.3). There the density is 0 (log density
``-inf``, Stan's rejection) wherever ``eta <= 0`` (:class:`OutsideRange`); a finite penalty there (tried:
``-1000 (1 - eta)``) is a trap, since the density just inside the range falls to ``-inf`` (seen: three
chains of four stuck outside). Chains start inside the range (:func:`~bayesmm.sampler.potential.usable_start`).
Probabilities are kept in ``(1e-12, 1 - 1e-12)`` except on the logit scale, where ``mu`` and ``1 - mu``
are each computed directly. The means and these guards are in :mod:`.means`.

Parameterisations follow brms: negative binomial NB2 (``var = mu + mu^2 / phi``), NB1 as NB2 with
shape ``mu / alpha`` (glmmTMB's nbinom1, ``var = mu (1 + alpha)``), gamma by shape and mean
(``rate = shape / mu``), beta and beta-binomial by mean and precision (``Beta(mu phi, (1 - mu) phi)``),
lognormal by the mean of ``log y``.  Zero-inflated and hurdle models are :class:`ZeroInflated` and
:class:`Hurdle` below, both computed on the log scale.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
import numpyro.distributions as dist
from jax import lax
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes, validate_sample

from .censoring import Censored
from .softplus import softplus
from .means import INVERSE_LINKS, TINY, OutsideRange, mean_in_range, positive, probability, restricted
from .more_families import MORE_LIKELIHOODS
from .categorical import CATEGORICAL_LIKELIHOODS
from .ordinal import ORDINAL_LIKELIHOODS

__all__ = ["INVERSE_LINKS", "LIKELIHOODS", "likelihood", "ZeroInflated", "Hurdle", "NegativeBinomial2",
           "BetaBinomial", "OutsideRange", "count_table", "TABLED", "TabledCounts"]


def _beta_shapes(eta, link, phi):
    """(mu phi, (1 - mu) phi): on the logit scale both from expit, so neither rounds to 0."""
    if link == "logit":
        return jsp.expit(eta) * phi, jsp.expit(-eta) * phi
    mu = probability(eta, link)
    return mu * phi, (1 - mu) * phi


def _log1mexp(a):
    """log(1 - exp(a)) for a <= 0, accurate at both ends (Maechler 2012)."""
    a = jnp.minimum(a, -1e-300)
    return jnp.where(a > -0.6931471805599453, jnp.log(-jnp.expm1(a)), jnp.log1p(-jnp.exp(a)))


def _log_beta(a, b):
    """log B(a, b) from log-gammas: jax's ``betaln`` switches to a float32-accurate asymptotic series once
    ``max(a, b) >= 8`` (errors near 1e-6 in float64), which the NB and beta-binomial would inherit."""
    return jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(a + b)


class NegativeBinomial2(dist.NegativeBinomial2):
    """numpyro's NB2 (mean ``mu``, shape ``phi``) with its log-pmf from log-gammas (see :func:`_log_beta`):
    ``lgamma(y + phi) - lgamma(phi) - lgamma(y + 1) - phi log1p(mu / phi) + y log(mu / (mu + phi))``."""

    pytree_data_fields = ("_mu",)

    def __init__(self, mean, concentration, *, validate_args=None):
        self._mu = mean
        super().__init__(mean, concentration, validate_args=validate_args)

    @validate_sample
    def log_prob(self, value):
        mu, phi = self._mu, self.concentration
        return (jsp.gammaln(value + phi) - jsp.gammaln(phi) - jsp.gammaln(value + 1)
                - phi * jnp.log1p(mu / phi) + jsp.xlogy(value, mu) - jsp.xlogy(value, mu + phi))


#: families whose log-pmf :class:`TabledCounts` computes with its log-gammas from a table of the response's
#: distinct values (log link)
TABLED = ("poisson", "negbinomial")
#: a table only pays while the response has at most this share as many distinct values as rows
TABLE_SHARE = 0.5


#: the NB2's ``lgamma(y + phi) - lgamma(phi)`` is summed from logs (:meth:`TabledCounts.constants`) while the
#: largest count is at most this
RUN_MAX = 100_000


def count_table(y, family: str, link: str, weights=None):
    """``(distinct values, each row's index into them, the rows' total weight per value, 0 .. the largest value - 1
    or None)`` (numpy: float, int32, float, float) of a whole-number response of a family in :data:`TABLED` with
    its log link, for :class:`TabledCounts`; ``None`` otherwise, or when the values are too many to gain
    (:data:`TABLE_SHARE`). The last part only for the NB2 with counts up to :data:`RUN_MAX`."""
    if family not in TABLED or link != "log" or y is None:
        return None
    y = np.asarray(y, dtype=float)
    if not y.size or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
        return None
    values, code = np.unique(y, return_inverse=True)
    if values.size > TABLE_SHARE * y.size:
        return None
    code = code.astype(np.int32).ravel()
    counts = np.bincount(code, None if weights is None else np.asarray(weights, dtype=float), minlength=values.size)
    run = (np.arange(int(values[-1]), dtype=float) if family == "negbinomial" and values[0] >= 0
           and values[-1] <= RUN_MAX else None)
    return values, code, counts.astype(float), run


class TabledCounts(dist.Distribution):
    """Poisson (``phi=None``) or NB2 rows with a log link whose response takes few distinct values: the same
    log-pmf as ``dist.Poisson`` and :class:`NegativeBinomial2`, split into the rows' part that depends on the
    linear predictor (one ``exp`` per row for the poisson; one ``softplus`` for the NB2,
    ``y (eta - log phi) - (y + phi) softplus(eta - log phi)``, exact also for a large ``phi``) and the
    log-gammas (``lgamma(y + phi) - lgamma(phi) - lgamma(y + 1)``, or ``-lgamma(y + 1)``), which depend on the
    response only through its value: :meth:`constants` computes them once per distinct value (``values``;
    ``code`` is each row's index into them), the NB2's ``lgamma(y + phi) - lgamma(phi)`` as the sum of
    ``log(phi + k)`` over ``k < y`` (``run`` holds ``0 .. max(y) - 1``): the difference of log-gammas loses
    0.1 per count to rounding at ``phi = 1e13``, which is enough noise to hold a chain that wandered into the
    NB2's Poisson limit there (seen in warmup: every later draw at the maximum tree depth). The model (``program.make_model``) samples the rows' part
    (:meth:`rows`, ``log_prob`` without the log-gammas) and adds the log-gammas as one dot product with the
    rows' weight per value (:meth:`constant_sum`): a count panel of 21,058 rows with 14 distinct counts had its
    NB2 log density and gradient in a seventh of the time of three log-gammas per row, and a gather of the
    table per row does not do it (XLA fuses the table's log-gammas into the gather, once per row again:
    ``benchmarks/README.md``, the count panel). ``log_prob(value)`` (the pointwise log-likelihood) assumes
    ``value`` is the response the table was built from; ``sample`` draws from the family as usual."""

    arg_constraints = {}
    support = constraints.nonnegative_integer
    pytree_data_fields = ("eta", "phi", "values", "code", "run")
    pytree_aux_fields = ("rows_only",)

    def __init__(self, eta, phi, values, code, run=None, rows_only: bool = False, *, validate_args=None):
        self.eta, self.phi, self.values, self.code, self.run = eta, phi, values, code, run
        self.rows_only = rows_only
        super().__init__(batch_shape=jnp.shape(eta), validate_args=validate_args)

    def rows(self) -> "TabledCounts":
        """The same rows, their ``log_prob`` without the log-gammas."""
        return TabledCounts(self.eta, self.phi, self.values, self.code, self.run, True)

    def complete(self) -> "TabledCounts":
        """The same rows, their ``log_prob`` the whole log-pmf."""
        return TabledCounts(self.eta, self.phi, self.values, self.code, self.run, False)

    def constants(self):
        """The log-gammas of each distinct value of the response."""
        if self.phi is None:
            return -jsp.gammaln(self.values + 1.0)
        if self.run is None:
            rising = jsp.gammaln(self.values + self.phi) - jsp.gammaln(self.phi)
        else:  # log(phi (phi + 1) ... (phi + y - 1)), from logs of numbers near phi: no cancellation
            sums = jnp.concatenate([jnp.zeros(1), jnp.cumsum(jnp.log(self.phi + self.run))])
            rising = sums[self.values.astype(jnp.int32)]
        return rising - jsp.gammaln(self.values + 1.0)

    def constant_sum(self, weights):
        """The log-gammas summed over the rows, from ``weights``, the rows' total weight per distinct value."""
        return self.constants() @ weights

    def _base(self):
        mu = jnp.exp(self.eta)
        return dist.Poisson(mu) if self.phi is None else NegativeBinomial2(mu, self.phi)

    def log_prob(self, value):
        if self.phi is None:
            rows = value * self.eta - jnp.exp(self.eta)
        else:
            t = self.eta - jnp.log(self.phi)
            rows = value * t - (value + self.phi) * softplus(t)
        return rows if self.rows_only else rows + self.constants()[self.code]

    def sample(self, key, sample_shape=()):
        return self._base().sample(key, sample_shape)

    @property
    def mean(self):
        return jnp.exp(self.eta)


class BetaBinomial(dist.BetaBinomial):
    """numpyro's beta-binomial with its log-pmf from log-gammas (see :func:`_log_beta`)."""

    @validate_sample
    def log_prob(self, value):
        n, a, b = self.total_count, self.concentration1, self.concentration0
        return (jsp.gammaln(n + 1) - jsp.gammaln(value + 1) - jsp.gammaln(n - value + 1)
                + _log_beta(value + a, n - value + b) - _log_beta(a, b))


class ZeroInflated(dist.ZeroInflatedProbs):
    """``P(0) = gate + (1 - gate) f(0)``, ``P(y) = (1 - gate) f(y)`` for ``y > 0``, with a log-sum-exp at zero
    (numpyro's :class:`~numpyro.distributions.ZeroInflatedProbs` forms ``gate + exp(log f(0))``); sampling
    is numpyro's."""

    @validate_sample
    def log_prob(self, value):
        nonzero = jnp.log1p(-self.gate) + self.base_dist.log_prob(value)
        return jnp.where(value == 0, jnp.logaddexp(jnp.log(self.gate), nonzero), nonzero)


class Hurdle(dist.Distribution):
    """Hurdle count distribution: ``P(0) = gate``; for ``y > 0``,
    ``P(y) = (1 - gate) f(y) / (1 - f(0))`` with ``f`` Poisson(``mu``) or, given ``phi``,
    NegativeBinomial2(``mu``, ``phi``) (zero-truncated).

    ``log(1 - f(0))`` comes from the closed form of ``log f(0)`` (``-mu``; ``-phi log1p(mu / phi)``) through
    a stable ``log1mexp``. Sampling is exact and loop-free: a count is positive when the first event of a
    Poisson process on [0, 1] falls before 1; that time is drawn from its truncated law (exponential for
    Poisson; with the NB's gamma-distributed rate marginalised, ``P(t1 <= t) = 1 - (b / (b + t))^phi``,
    ``b = phi / mu``, after which the rate is ``Gamma(phi + 1, b + t1)``), and the events in ``(t1, 1]``
    are Poisson.
    """

    arg_constraints = {"mu": constraints.positive, "phi": constraints.positive, "gate": constraints.unit_interval}
    support = constraints.nonnegative_integer
    pytree_data_fields = ("mu", "phi", "gate")
    pytree_aux_fields = ("poisson",)

    def __init__(self, mu, gate, phi=None, *, validate_args=None):
        self.poisson = phi is None
        phi = jnp.ones(()) if phi is None else phi
        batch_shape = lax.broadcast_shapes(jnp.shape(mu), jnp.shape(gate), jnp.shape(phi))
        self.mu, self.gate, self.phi = (jnp.broadcast_to(a, batch_shape) for a in promote_shapes(mu, gate, phi))
        super().__init__(batch_shape, validate_args=validate_args)

    def _base(self):
        return dist.Poisson(self.mu) if self.poisson else NegativeBinomial2(self.mu, self.phi)

    def _log_p0(self):
        """log f(0) of the untruncated count distribution."""
        if self.poisson:
            return -self.mu
        return -self.phi * jnp.log1p(self.mu / self.phi)

    @validate_sample
    def log_prob(self, value):
        positive = (jnp.log1p(-self.gate) + self._base().log_prob(jnp.maximum(value, 1))
                    - _log1mexp(self._log_p0()))
        return jnp.where(value == 0, jnp.log(self.gate), positive)

    def sample(self, key, sample_shape=()):
        shape = sample_shape + self.batch_shape
        k_gate, k_time, k_rate, k_rest = jax.random.split(key, 4)
        u = jax.random.uniform(k_time, shape)
        mu = jnp.broadcast_to(self.mu, shape)
        if self.poisson:
            t1 = -jnp.log1p(u * jnp.expm1(-mu)) / mu  # Exponential(mu) truncated to [0, 1]
            rate = mu
        else:
            phi = jnp.broadcast_to(self.phi, shape)
            b = phi / mu
            q = u * -jnp.expm1(jnp.broadcast_to(self._log_p0(), shape))  # uniform on (0, 1 - f(0))
            t1 = jnp.clip(b * jnp.expm1(-jnp.log1p(-q) / phi), 0.0, 1.0)
            rate = jax.random.gamma(k_rate, phi + 1) / (b + t1)
        rest = jax.random.poisson(k_rest, rate * (1.0 - jnp.clip(t1, 0.0, 1.0)), shape)
        zero = jax.random.bernoulli(k_gate, jnp.broadcast_to(self.gate, shape))
        return jnp.where(zero, 0, 1 + rest)

    @property
    def mean(self):
        return (1 - self.gate) * self.mu / -jnp.expm1(self._log_p0())


def _gaussian(eta, link, aux, trials):
    return dist.Normal(INVERSE_LINKS[link](eta), aux["sigma"])


def _bernoulli(eta, link, aux, trials):
    if link == "logit":
        return dist.BernoulliLogits(eta)
    return dist.BernoulliProbs(probability(eta, link))


def _binomial(eta, link, aux, trials):
    if link == "logit":
        return dist.BinomialLogits(eta, total_count=trials)
    return dist.BinomialProbs(probability(eta, link), total_count=trials)


def _poisson(eta, link, aux, trials):
    return dist.Poisson(positive(eta, link))


def _negbinomial(eta, link, aux, trials):
    return NegativeBinomial2(positive(eta, link), aux["phi"])


def _nbinom1(eta, link, aux, trials):
    mu = positive(eta, link)
    return NegativeBinomial2(mu, mu / aux["alpha"])


def _gamma(eta, link, aux, trials):
    shape = aux["shape"]
    mu, barrier = mean_in_range(eta, link)
    return restricted(dist.Gamma(shape, shape / mu), barrier)


def _beta(eta, link, aux, trials):
    return dist.Beta(*_beta_shapes(eta, link, aux["phi"]))


def _beta_binomial(eta, link, aux, trials):
    return BetaBinomial(*_beta_shapes(eta, link, aux["phi"]), total_count=trials)


def _student_t(eta, link, aux, trials):
    return dist.StudentT(aux["nu"], INVERSE_LINKS[link](eta), aux["sigma"])


def _lognormal(eta, link, aux, trials):
    return dist.LogNormal(eta, aux["sigma"])


def _zero_inflated_poisson(eta, link, aux, trials):
    return ZeroInflated(dist.Poisson(positive(eta, link)), aux["zi"])


def _zero_inflated_negbinomial(eta, link, aux, trials):
    return ZeroInflated(NegativeBinomial2(positive(eta, link), aux["phi"]), aux["zi"])


def _hurdle_poisson(eta, link, aux, trials):
    return Hurdle(jnp.maximum(INVERSE_LINKS[link](eta), TINY), aux["hu"])


def _hurdle_negbinomial(eta, link, aux, trials):
    return Hurdle(jnp.maximum(INVERSE_LINKS[link](eta), TINY), aux["hu"], phi=aux["phi"])


LIKELIHOODS = {
    "gaussian": _gaussian,
    "bernoulli": _bernoulli,
    "binomial": _binomial,
    "poisson": _poisson,
    "negbinomial": _negbinomial,
    "nbinom1": _nbinom1,
    "gamma": _gamma,
    "beta": _beta,
    "beta_binomial": _beta_binomial,
    "student_t": _student_t,
    "lognormal": _lognormal,
    "zero_inflated_poisson": _zero_inflated_poisson,
    "zero_inflated_negbinomial": _zero_inflated_negbinomial,
    "hurdle_poisson": _hurdle_poisson,
    "hurdle_negbinomial": _hurdle_negbinomial,
    **MORE_LIKELIHOODS,
    **ORDINAL_LIKELIHOODS,
    **CATEGORICAL_LIKELIHOODS,
}


def likelihood(family: str, link: str, eta, aux: dict, trials=None, table=None, bounds=None):
    """The observation distribution of ``family`` with ``link`` at linear predictor ``eta``; ``table``: the
    response's distinct values and each row's index into them (:func:`count_table`), for the families of
    :data:`TABLED` (:class:`TabledCounts`: log-gammas once per distinct value); ``bounds``: the rows' censoring
    and truncation (:class:`~.censoring.Censored`)."""
    if bounds is not None:
        return Censored(LIKELIHOODS[family](eta, link, aux, trials), family, bounds)
    if table is not None and family in TABLED and link == "log":
        return TabledCounts(eta, aux["phi"] if family == "negbinomial" else None, table[0], table[1], table[3])
    return LIKELIHOODS[family](eta, link, aux, trials)
