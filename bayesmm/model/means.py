"""Linear predictor -> a family's mean (jax): the inverse links of :mod:`bayesmm.links`, and the guards that keep
the mean in its family's range (see :mod:`.likelihoods` for why each guard is what it is)."""
from __future__ import annotations

import jax.numpy as jnp
import jax.scipy.special as jsp
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ..links import LINKS, ArrayOps, inverse_links

__all__ = ["INVERSE_LINKS", "TINY", "probability", "positive", "mean_in_range", "restricted", "OutsideRange"]

#: the smallest mean (and distance of a probability from 0 and 1) a count or binary likelihood sees
TINY = 1e-12

#: Link name -> ``g^-1`` on jax arrays: the jax view of :data:`bayesmm.links.LINKS`.
INVERSE_LINKS = inverse_links(ArrayOps(jnp.exp, jnp.expm1, jnp.square, jsp.expit, jsp.ndtr))


def probability(eta, link):
    """The mean of a probability, kept in ``(TINY, 1 - TINY)``."""
    return jnp.clip(INVERSE_LINKS[link](eta), TINY, 1 - TINY)


def positive(eta, link):
    """A positive mean, kept at or above ``TINY`` where the link can leave the positive range."""
    mu = INVERSE_LINKS[link](eta)
    return mu if LINKS[link].mean_range == "positive" else jnp.maximum(mu, TINY)


def mean_in_range(eta, link):
    """(mu, outside): the positive mean and, for the identity and inverse links (``mu <= 0`` exactly where
    ``eta <= 0``), ``inf`` on the rows outside the range (0 elsewhere; ``mu`` is computed at ``eta = 1``
    there so that nothing downstream is NaN, gradients included)."""
    if LINKS[link].mean_range == "positive":
        return INVERSE_LINKS[link](eta), None
    valid = eta > 0
    return INVERSE_LINKS[link](jnp.where(valid, eta, 1.0)), jnp.where(valid, 0.0, jnp.inf)


def restricted(base, barrier):
    """``base``, or :class:`OutsideRange` of it where ``barrier`` (from :func:`mean_in_range`) is given."""
    return base if barrier is None else OutsideRange(base, barrier)


class OutsideRange(dist.Distribution):
    """``base`` where ``barrier`` is 0; elsewhere (the linear predictor left the mean's range) the log
    density is ``-barrier`` (``-inf``: NUTS rejects the step). Draws are the base's."""

    pytree_data_fields = ("base_dist", "barrier")

    def __init__(self, base_dist, barrier, *, validate_args=None):
        self.base_dist, self.barrier = base_dist, jnp.broadcast_to(barrier, base_dist.batch_shape)
        super().__init__(base_dist.batch_shape, base_dist.event_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return self.base_dist.support

    def log_prob(self, value):
        return jnp.where(self.barrier > 0, -self.barrier, self.base_dist.log_prob(value))

    def sample(self, key, sample_shape=()):
        return self.base_dist.sample(key, sample_shape)
