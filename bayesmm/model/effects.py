"""Random effects as the sampler sees them: centred or non-centred per level, and what centred levels
centre on (hierarchical centring; see ``program.py``'s parameterisation and ``centring.py`` for the choice).

A centred level ``j`` of block ``k`` has raw effects ``z_kj ~ N(loc_kj, F_k F_k')`` and effects
``z_kj - loc_kj`` (:class:`BlockEffects`, :func:`block_effects`); ``loc`` (:func:`centring_loc`) holds what
the level's data pin down together with its own effect: the intercept (one block, ``centre_on``), the
level's mean row of ``X b`` (``level_X``) and the effects of the blocks the level nests in (``parents``).
Each is a shift with Jacobian 1, so the model is unchanged; only the geometry NUTS moves in changes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ..plan.centring import SMALL_VARIANCE
from .marginal import forward_solve

if TYPE_CHECKING:  # program.py imports this module
    from .records import ModelData, ModelStructure

__all__ = ["BlockEffects", "block_effects", "centring_loc", "block_order", "split_aliased", "dynamic_weights",
           "level_weights_at"]


def fixed_coefficients(structure: ModelStructure, params: dict):
    """[Intercept_c, b]: the coefficients of the marginal model's fixed design."""
    parts = ([params["Intercept_c"][None]] if structure.intercept_prior is not None else [])
    parts += [params["b"]] if structure.b_priors else []
    return jnp.concatenate(parts) if parts else jnp.zeros(0)


class BlockEffects(dist.Distribution):
    """The raw effects ``z`` (levels x columns) of one block with per-level factor ``F = diag(sd) L``.

    Each level has a weight ``centred`` in [0, 1]: how far it is sampled centred on the model's mean
    (hierarchical centring, Gelfand, Sahu and Carlin 1995), ``loc`` holding what it centres on (the sampled
    intercept in the block's intercept column, its parents' effects, ...; :func:`centring_loc`). Weight 1:
    ``z_j = loc + r_j ~ N(loc, F F')``, so that the intercept and a data-pinned level do not trade off along
    a ridge; weight 0: ``z_j ~ N(0, I)`` with effects ``r_j = F z_j`` (non-centred). In between, for blocks
    with independent columns (``diagonal``), *partially* centred (Papaspiliopoulos, Roberts and Skold 2003;
    Gorinova, Moore and Hoffman 2020): ``z_j ~ N(w loc, sd^(2 w))`` per column, effects
    ``r_j = sd^(1 - w) (z_j - w loc)``, exactly the same prior on ``r_j`` for every ``w``, also for weights
    that move with the SDs (per level and column, :func:`dynamic_weights`). Correlated blocks take weights 0
    or 1 only. :func:`block_effects` turns ``z`` into effects."""

    arg_constraints = {}
    support = constraints.independent(constraints.real, 2)
    reparametrized_params = []

    def __init__(self, factor, centred, loc=None, diagonal: bool = False):
        self.factor, self.centred, self.diagonal = factor, centred, diagonal
        self.loc = jnp.zeros(factor.shape[-1]) if loc is None else loc
        super().__init__(batch_shape=(), event_shape=(centred.shape[0], factor.shape[-1]))

    def sample(self, key, sample_shape=()):
        w = jax.random.normal(key, tuple(sample_shape) + self.event_shape)
        weight = _column_weights(self.centred)
        if self.diagonal:
            return weight * self.loc + _powers(self.factor, weight) * w
        return jnp.where(weight > 0.5, self.loc + w @ self.factor.T, w)

    def log_prob(self, value):
        size = value.shape[-2] * value.shape[-1]
        weight = _column_weights(self.centred)
        if self.diagonal:
            log_scale = weight * jnp.log(jnp.maximum(jnp.diagonal(self.factor), _TINY))
            w = (value - weight * self.loc) * jnp.exp(-log_scale)
            return -0.5 * jnp.sum(w ** 2) - jnp.sum(log_scale) - 0.5 * size * jnp.log(2 * jnp.pi)
        mask = weight > 0.5
        # F^-1 (z_j - loc) for the centred levels only; a block without centred levels solves with I instead of
        # F, so that an SD of zero (underflow) cannot send NaN into the gradient through the unused branch
        factor = jnp.where(jnp.any(mask), self.factor, jnp.eye(self.factor.shape[-1]))
        # forward substitution unrolled over the q columns (elementwise over levels, no LAPACK call per step)
        q = factor.shape[-1]
        solved = forward_solve([[factor[i, k] for k in range(q)] for i in range(q)], jnp.where(mask, value - self.loc, 0.0))
        w = jnp.where(mask, solved, value)
        log_det = jnp.sum(jnp.log(jnp.abs(jnp.diagonal(factor))))
        return -0.5 * jnp.sum(w ** 2) - jnp.sum(mask) * log_det - 0.5 * size * jnp.log(2 * jnp.pi)


#: SDs are floored here before their logarithm (an SD of exactly 0, from underflow, would give NaN gradients)
_TINY = 1e-300


def _column_weights(centred):
    """Weights per level and column: ``centred`` is per level (levels) or already per column."""
    return centred[:, None] if centred.ndim == 1 else centred


#: ``c`` of :func:`dynamic_weights` (``centring.SMALL_VARIANCE``): a level's weight stays near its PQL guess
#: down to about this share of the guessed variance, and falls towards non-centred below it.


def dynamic_weights(x_guess, ratio):
    """Each level's weight at a draw's variance: ``x / (1 + x)`` with ``x = x_guess h(ratio)``, ``x_guess`` its
    information x variance at the PQL guess (``centring.level_information``), ``ratio`` the draw's variance
    over the guessed one, and ``h(r) = r (1 + c) / (r + c)``, ``c`` = :data:`SMALL_VARIANCE`: ``h(1) = 1``,
    ``h`` at most ``1 + c`` above, and ``r / c`` where the variance is small. A weight fixed at the guess
    leaves a funnel where the posterior reaches SDs far below it (grouseticks' sd(LOCATION), guessed at 0.57,
    reaches 0.01; partly centred levels then have scale ``sd^w``). The prior of the effects is exact for any
    weight, also one that moves with the SDs (each draw's map from ``z`` to the effects is affine at its SDs).
    Weights following the variance exactly (``c`` large) remove the funnel too, but the SDs then pull on every
    level and the sampler mixes more slowly; ``c = 0.1`` keeps the fixed weights' mixing where the SDs stay
    near the guess (the measurements: ``benchmarks/README.md``, alternatives measured on the suite)."""
    x = x_guess * (ratio * (1.0 + SMALL_VARIANCE) / (ratio + SMALL_VARIANCE))
    return x / (1.0 + x)


def level_weights_at(data: ModelData, k: int, sd):
    """Block ``k``'s weights (how far each level is centred, :class:`BlockEffects`) at the SDs ``sd``: they
    follow the SDs where ``data.guessed_weights`` has them (:func:`dynamic_weights`), else fixed."""
    if data.guessed_weights and data.guessed_weights[k] is not None:
        x_guess, guess = data.guessed_weights[k]
        return dynamic_weights(x_guess, sd ** 2 / guess)
    return data.centred[k]


def _powers(factor, weight):
    """``sd^weight`` per level and column for a diagonal factor."""
    return jnp.exp(weight * jnp.log(jnp.maximum(jnp.diagonal(factor), _TINY)))


def block_effects(z, factor, centred, loc=0.0, diagonal: bool = False):
    """Effects of one block from its raw draws ``z`` (see :class:`BlockEffects`)."""
    weight = _column_weights(centred)
    if diagonal:
        return _powers(factor, 1.0 - weight) * (z - weight * loc)
    return jnp.where(weight > 0.5, z - loc, z @ factor.T)


def centring_loc(structure: ModelStructure, k: int, data: ModelData, params: dict):
    """``loc`` of :class:`BlockEffects` for block ``k``: per column the fixed coefficient it centres on
    (``centre_on``), so that neither the intercept nor a slope (``Days``) trades off with the mean of the
    centred levels; plus, per level, the effects of the blocks it nests in (``parents``), weighted by the
    share of the level's rows in each parent level (hierarchical centring along the nesting)."""
    block = structure.blocks[k]
    index = np.asarray(block.centre_on if block.centre_on else (-1,) * block.n_columns)
    loc = jnp.zeros(block.n_columns)
    if (index >= 0).any():
        loc = jnp.where(index >= 0, fixed_coefficients(structure, params)[np.maximum(index, 0)], 0.0)
    with_means = block.mean_column >= 0 and bool(structure.b_priors)
    if with_means or block.parents:  # per level from here on
        loc = jnp.broadcast_to(loc, (block.n_levels, block.n_columns))
    if with_means:  # the intercept's column: plus the level's mean of X b
        loc = loc.at[:, block.mean_column].add(data.level_X[k] @ params["b"])
    for (parent, columns), (level, parent_level, share) in zip(block.parents, data.parent_pairs[k] if block.parents
                                                                 else ()):
        mine, theirs = (np.array(c) for c in zip(*columns))
        pulled = jax.ops.segment_sum(share[:, None] * params[f"r_{parent}"][parent_level][:, theirs], level,
                                     num_segments=block.n_levels)
        loc = loc.at[:, mine].add(pulled)
    return loc


def block_order(structure: ModelStructure) -> list[int]:
    """The blocks in the order they are sampled: each after its parents (whose effects its ``loc`` needs)."""
    order = []
    while len(order) < len(structure.blocks):
        order += [k for k, b in enumerate(structure.blocks)
                  if k not in order and all(parent in order for parent, _ in b.parents)]
    return order


def split_aliased(r_a, r_b, z_a, z_b, sd_a, sd_b, levels_a, levels_b, weight=0.0):
    """Effects of aliased level pairs (levels ``levels_a`` of one intercept-only block and ``levels_b`` of
    another, holding the same rows; :func:`.centring.aliased_levels`) from their sum and split, and the log
    density to add. Both levels are drawn standard normal by their blocks; ``z_b`` of the pair becomes the sum
    ``t``, partly centred with ``weight`` (the data pin a brood's sum down when its counts are large):
    ``z_b ~ N(0, s^(2 w))``, ``t = s^(1 - w) z_b`` with ``s = sqrt(sd_a^2 + sd_b^2)``, the returned
    correction turning the standard normal density of ``z_b`` into that one. ``z_a`` is the split given the
    sum, ``r_a = t sd_a^2 / s^2 + sd_a sd_b / s z_a``, ``r_b = t - r_a``: with ``t ~ N(0, s^2)`` exactly the
    prior of ``(r_a, r_b)`` (independent, SDs ``sd_a`` and ``sd_b``), so the model is unchanged. The blocks'
    other levels pass through. Returns ``(r_a, r_b, log density correction)``."""
    total = jnp.maximum(sd_a ** 2 + sd_b ** 2, _TINY)
    log_s = 0.5 * jnp.log(total)
    z = z_b[levels_b, 0]
    t = jnp.exp((1.0 - weight) * log_s) * z
    correction = jnp.sum(-0.5 * z ** 2 * jnp.expm1(-2.0 * weight * log_s) - weight * log_s)
    part = t * (sd_a ** 2 / total) + (sd_a * sd_b / jnp.sqrt(total)) * z_a[levels_a, 0]
    return r_a.at[levels_a, 0].set(part), r_b.at[levels_b, 0].set(t - part), correction
