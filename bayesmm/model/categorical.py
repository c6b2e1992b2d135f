"""The categorical (multinomial logit) model: one linear predictor per category but the first (jax).

A response in ``K`` unordered categories, coded ``1 .. K`` (category 1 the reference), follows brms's
``categorical`` family: ``P(y = k) = softmax(0, eta_2, ..., eta_K)_k``. Each ``eta_k`` has the fixed part and the
random-effect terms of the formula with coefficients of its own: the design holds them once per non-reference
category (:mod:`bayesmm.categories`: columns ``mub_Intercept``, ``mub_x``, ...; blocks ``mub_Intercept | g``, ...),
category by category (a term with an ID, ``(1 | p | g)``, as one block over the categories whose columns
``BlockStructure.predictors`` sends to their predictors), so that the posterior, its names and the tables are those
of any model. The program
(:func:`categorical_model`, reached from :func:`bayesmm.model.program.make_model` when
``structure.categories > 0``) samples the same sites as the default program does for a model without an
intercept and with sampled, non-centred blocks (``b`` or ``b_<prior>``, ``sd_k``, ``L_k``, ``z_k``, the
deterministic ``r_k``), so the sampler's starting points and coordinates apply unchanged. The fixed columns are
used uncentred (``data.X + data.x_means``): each category's intercept is a column of ones.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ..distributions import DISTRIBUTIONS
from .lkj import lkj_cholesky
from .ordinal import CategoryScores

__all__ = ["CategoricalScores", "categorical_model", "CATEGORICAL_LIKELIHOODS"]


class CategoricalScores(CategoryScores):
    """``y`` in ``1 .. K`` with log-odds ``eta`` (last axis, ``K - 1``) of categories ``2 .. K`` against category 1:
    ``probs`` the categories' probabilities (last axis), ``log_probs`` their logs (a log-softmax)."""

    arg_constraints = {}
    pytree_data_fields = ("eta",)

    def __init__(self, eta, *, validate_args=None):
        self.eta = eta
        super().__init__(batch_shape=jnp.shape(eta)[:-1], validate_args=validate_args)

    @property
    def n_categories(self) -> int:
        return int(jnp.shape(self.eta)[-1]) + 1

    def log_probs(self):
        logits = jnp.concatenate([jnp.zeros(self.batch_shape + (1,)), self.eta], axis=-1)
        return jax.nn.log_softmax(logits, axis=-1)


class _Flat(dist.ImproperUniform):
    """A flat prior whose ``sample`` gives zeros (tracing the model to find its sites draws from it)."""

    def sample(self, key, sample_shape=()):
        return jnp.zeros(tuple(sample_shape) + self.batch_shape + self.event_shape)


def _vector(name: str, specs):
    """Elements with priors ``specs`` (:class:`~bayesmm.priors.PriorSpec`), one sample site per distribution as the
    default program names them (``name``, or ``name_<distribution>`` when they differ)."""
    groups = {}
    for i, spec in enumerate(specs):
        groups.setdefault(spec.dist, []).append(i)

    def site(site_name, idx):
        spec = specs[idx[0]]
        record = DISTRIBUTIONS[spec.dist]
        if not record.proper:
            return numpyro.sample(site_name, _Flat(constraints.real, (len(idx),), ()))
        args = [jnp.asarray(np.array([specs[i].args[k] for i in idx], dtype=float)) for k in range(len(spec.args))]
        return numpyro.sample(site_name, record.numpyro(dist, args).expand([len(idx)]))

    if len(groups) == 1:
        return site(name, list(range(len(specs))))
    out = jnp.zeros(len(specs))
    for dist_name, idx in groups.items():
        out = out.at[jnp.asarray(idx)].set(site(f"{name}_{dist_name}", idx))
    return numpyro.deterministic(name, out)


def _block_effects(k: int, block):
    """Block ``k``'s effects (levels x columns), sampled non-centred: ``z_k`` standard normal times
    ``diag(sd_k) L_k``."""
    sd = _vector(f"sd_{k}", block.sd_priors)
    z = numpyro.sample(f"z_{k}", dist.Normal(0.0, 1.0).expand([block.n_levels, block.n_columns]).to_event(2))
    if block.correlated and block.n_columns > 1:
        chol = numpyro.sample(f"L_{k}", lkj_cholesky(block.n_columns, block.cor_prior.args[0]))
        return numpyro.deterministic(f"r_{k}", z @ (sd[:, None] * chol).T)
    return numpyro.deterministic(f"r_{k}", z * sd)


def categorical_model(structure):
    """The NumPyro model of a categorical response (see the module docstring)."""
    n_predictors = int(structure.categories)

    def model(data, observed: bool = True):
        X = data.X + data.x_means
        width = X.shape[1] // n_predictors
        b = _vector("b", structure.b_priors) if structure.b_priors else jnp.zeros(0)
        etas = [X[:, c * width:(c + 1) * width] @ b[c * width:(c + 1) * width] for c in range(n_predictors)]
        for k, block in enumerate(structure.blocks):
            terms = data.Z[k] * _block_effects(k, block)[data.group_index[k]]
            for j, c in enumerate(block.predictors):  # a block of (1 | p | g) spans the categories
                etas[c] = etas[c] + terms[:, j]
        law = CategoricalScores(jnp.stack(etas, axis=-1))
        with numpyro.handlers.scale(scale=1.0 if data.weights is None else data.weights):
            numpyro.sample("y", law, obs=data.y if observed else None)

    return model


def _categorical(eta, link, aux, trials):
    return CategoricalScores(eta)


#: the categorical family's entry of :data:`bayesmm.model.likelihoods.LIKELIHOODS` (``eta``: ``(..., K - 1)``)
CATEGORICAL_LIKELIHOODS = {"categorical": _categorical}
