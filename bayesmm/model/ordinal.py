"""The cumulative (ordinal) likelihood and its thresholds (jax).

A response in ``K`` ordered categories, coded ``1 .. K``, follows brms's ``cumulative`` family and
``ordinal::clm``: ``P(y <= k) = F(c_k - eta)`` for ``k < K``, with ``F`` the inverse link (logistic, normal or
Gumbel-min CDF for ``logit``, ``probit``, ``cloglog``), ``c_1 < ... < c_{K-1}`` the thresholds and ``eta`` the
linear predictor without an intercept (the thresholds play its role). A category's probability is a
difference of two CDF values, computed on the log scale from the side of the distribution where it is accurate:
``log(F(b) - F(a)) = log F(b) + log1mexp(log F(a) - log F(b))`` below the median, and the same with the survival
function ``S = 1 - F`` above it, so that neither tail rounds to ``log 0`` (Stan's ``ordered_logistic`` does the
same for the logit link).

The thresholds are sampled as one ordered vector (numpyro's ``ordered_vector`` support: the first threshold and
the logs of the gaps) at the centred predictors, as the intercept is (:mod:`.program`): the model's ``X`` is
centred at ``x_means``, so the thresholds of the data's ``X`` are the sampled ones plus ``x_means @ b``
(brms's ``b_Intercept = Intercept + dot(means_X, b)``), kept as the deterministic site ``thresholds``. Each
threshold has its own prior (``bayesmm.priors``: class ``Intercept``, coef ``1`` .. ``K-1``); their product,
restricted to ordered vectors, is the prior :class:`OrderedPrior` (brms's default ``student_t(3, 0, 2.5)`` on
each with the ordering constraint; why in :mod:`bayesmm.families`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ..distributions import DISTRIBUTIONS

__all__ = ["CategoryScores", "Cumulative", "OrderedPrior", "threshold_sites", "category_log_probs", "ORDINAL_LIKELIHOODS", "log1mexp"]

#: the median of each link's distribution ``F``: above it a category's probability is computed from ``S = 1 - F``
MEDIANS = {"logit": 0.0, "probit": 0.0, "cloglog": float(np.log(np.log(2.0)))}
#: ``exp`` is taken of at most this (the cloglog's ``exp(x)``): no infinity, so no NaN gradient
EXP_MAX = 700.0


def log1mexp(a):
    """``log(1 - exp(a))`` for ``a <= 0``, accurate at both ends (Maechler 2012); ``a`` is kept below ``-1e-300``
    so that equal arguments give a large negative value rather than ``-inf``. Each branch sees only arguments
    where it is finite, so that the gradient of the other is never ``0 * inf``."""
    a = jnp.minimum(a, -1e-300)
    near = a > -0.6931471805599453
    return jnp.where(near, jnp.log(-jnp.expm1(jnp.where(near, a, -1.0))),
                     jnp.log1p(-jnp.exp(jnp.where(near, -1.0, a))))


def _log_cdf(x, link: str):
    """``log F(x)``; the cloglog's ``log(1 - exp(-e^x))`` is ``x - e^x / 2`` to float64 precision below -30
    (where ``e^x`` underflows further out)."""
    if link == "logit":
        return -jax.nn.softplus(-x)
    if link == "probit":
        return jsp.log_ndtr(x)
    far = x < -30.0
    return jnp.where(far, x - jnp.exp(jnp.minimum(x, -30.0)) / 2,
                     log1mexp(-jnp.exp(jnp.clip(x, -30.0, EXP_MAX))))


def _log_survival(x, link: str):
    """``log(1 - F(x))``."""
    if link == "logit":
        return -jax.nn.softplus(x)
    if link == "probit":
        return jsp.log_ndtr(-x)
    return -jnp.exp(jnp.minimum(x, EXP_MAX))


def category_log_probs(eta, thresholds, link: str):
    """``log P(y = k)`` for ``k = 1 .. K`` (last axis) at linear predictors ``eta`` (any shape) and thresholds
    (``(..., K - 1)``, broadcasting against ``eta``'s leading axes: one vector, or one per draw with ``eta``
    draws x rows). Every entry is finite, so that a gradient through a selected one is never NaN."""
    x = thresholds[..., None, :] - eta[..., None]
    log_cdf, log_survival = _log_cdf(x, link), _log_survival(x, link)
    a, b = x[..., :-1], x[..., 1:]
    below = log_cdf[..., 1:] + log1mexp(log_cdf[..., :-1] - log_cdf[..., 1:])
    above = log_survival[..., :-1] + log1mexp(log_survival[..., 1:] - log_survival[..., :-1])
    middle = jnp.where((a + b) / 2 > MEDIANS[link], above, below)
    return jnp.concatenate([log_cdf[..., :1], middle, log_survival[..., -1:]], axis=-1)


class CategoryScores(dist.Distribution):
    """A response in categories ``1 .. K`` given each row's ``log_probs()`` (categories on the last axis) and
    ``n_categories``: the log-pmf, draws and probabilities the ordinal and categorical families share."""

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(1, self.n_categories)

    def log_prob(self, value):
        chosen = jnp.asarray(value)[..., None] == jnp.arange(1, self.n_categories + 1)
        return jnp.sum(jnp.where(chosen, self.log_probs(), 0.0), axis=-1)

    def sample(self, key, sample_shape=()):
        return 1 + jax.random.categorical(key, self.log_probs(), shape=tuple(sample_shape) + self.batch_shape)

    @property
    def probs(self):
        return jnp.exp(self.log_probs())


class Cumulative(CategoryScores):
    """``y`` in ``1 .. K`` with ``P(y <= k) = F(c_k - eta)`` (see the module docstring); ``probs`` the categories'
    probabilities (last axis), ``mean`` the expected score ``sum_k k P(y = k)`` (brms's ``posterior_epred``
    averaged over the categories' scores)."""

    arg_constraints = {}
    pytree_data_fields = ("eta", "thresholds")
    pytree_aux_fields = ("link",)

    def __init__(self, eta, thresholds, link: str = "logit", *, validate_args=None):
        self.eta, self.thresholds, self.link = eta, thresholds, link
        batch = jax.lax.broadcast_shapes(jnp.shape(eta), jnp.shape(thresholds)[:-1] + (1,))
        super().__init__(batch_shape=batch, validate_args=validate_args)

    @property
    def n_categories(self) -> int:
        return int(jnp.shape(self.thresholds)[-1]) + 1

    def log_probs(self):
        """``log P(y = k)``, categories on the last axis."""
        return jnp.broadcast_to(category_log_probs(self.eta, self.thresholds, self.link),
                                self.batch_shape + (self.n_categories,))


    @property
    def mean(self):
        return jnp.sum(self.probs * jnp.arange(1, self.n_categories + 1), axis=-1)


class OrderedPrior(dist.Distribution):
    """Independent priors on the elements of an ordered vector, restricted to ordered vectors (brms's prior on
    cumulative thresholds): ``log_prob`` is the sum of the elements' log densities, the constant of the
    restriction left out. ``specs``: one :class:`~bayesmm.priors.PriorSpec` per element (a flat one adds 0).
    ``sample`` sorts independent draws: exact when the priors are the same (the order statistics), close
    otherwise (prior draws only)."""

    arg_constraints = {}
    support = constraints.ordered_vector
    pytree_aux_fields = ("specs",)

    def __init__(self, specs, *, validate_args=None):
        self.specs = tuple(specs)
        super().__init__(batch_shape=(), event_shape=(len(self.specs),), validate_args=validate_args)

    def _element(self, spec):
        record = DISTRIBUTIONS[spec.dist]
        return None if not record.proper else record.numpyro(dist, [jnp.asarray(float(a)) for a in spec.args])

    def log_prob(self, value):
        total = jnp.zeros(jnp.shape(value)[:-1])
        for k, spec in enumerate(self.specs):
            element = self._element(spec)
            if element is not None:
                total = total + element.log_prob(value[..., k])
        return total

    def sample(self, key, sample_shape=()):
        keys = jax.random.split(key, len(self.specs))
        draws = [jnp.zeros(tuple(sample_shape)) if self._element(spec) is None
                 else self._element(spec).sample(k, tuple(sample_shape)) for spec, k in zip(self.specs, keys)]
        return jnp.sort(jnp.stack(draws, axis=-1), axis=-1)


def threshold_sites(structure, data, params: dict) -> dict:
    """The thresholds of an ordinal model (``structure.thresholds``: their priors; none: ``{}``): sampled at the
    centred predictors as ``thresholds_c``, reported at the data's as the deterministic ``thresholds``; returns
    the family parameters the likelihood reads (``{"thresholds": ...}``)."""
    if not getattr(structure, "thresholds", ()):
        return {}
    centred = numpyro.sample("thresholds_c", OrderedPrior(structure.thresholds))
    shift = data.x_means @ params["b"] if structure.b_priors else 0.0
    numpyro.deterministic("thresholds", centred + shift)
    return {"thresholds": centred}


def _cumulative(eta, link, aux, trials):
    return Cumulative(eta, aux["thresholds"], link)


#: the ordinal families' entries of :data:`bayesmm.model.likelihoods.LIKELIHOODS`
ORDINAL_LIKELIHOODS = {"cumulative": _cumulative}
