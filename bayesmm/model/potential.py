"""The unconstrained log density the sampler works on, built without running the model eagerly.

numpyro's ``initialize_model`` runs the model op by op, compiling each operation separately (hundreds of
small XLA compilations, tens of seconds for a model with a few dozen operations). Here the model is traced
once abstractly (``jax.eval_shape``) to find its latent sites and their supports; everything else runs
inside jitted code.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions.transforms import biject_to
from numpyro.handlers import seed, trace
from numpyro.infer.util import log_density

from .program import ModelData, ModelStructure, _grouped, make_model

__all__ = ["latent_sites", "make_potential", "constrain", "initial_values", "unconstrained_prior_draws", "usable_start"]


@functools.lru_cache(maxsize=64)
def latent_sites(structure: ModelStructure, data_shapes) -> dict:
    """name -> (bijection from the real line onto the site's support, unconstrained shape)."""
    model = make_model(structure)
    found = {}

    def discover(data):
        tr = trace(seed(model, 0)).get_trace(data)
        for name, site in tr.items():
            if site["type"] == "sample" and not site["is_observed"]:
                transform = biject_to(site["fn"].support)
                shape = transform.inverse_shape(jnp.shape(site["value"]))
                found[name] = (transform, tuple(shape))
        return 0

    jax.eval_shape(discover, data_shapes.tree)
    return found


def _shapes(data: ModelData):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), data)


def sites_of(structure: ModelStructure, data: ModelData) -> dict:
    return latent_sites(structure, _Hashable(_shapes(data)))


class _Hashable:
    """Wraps a pytree of ShapeDtypeStructs so it can key an lru_cache."""

    def __init__(self, tree):
        self.tree = tree
        leaves, treedef = jax.tree.flatten(tree)
        self.key = (treedef, tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Hashable) and self.key == other.key

    def __getattr__(self, name):
        return getattr(self.tree, name)


def constrain(sites: dict, z: dict) -> dict:
    return {name: sites[name][0](value) for name, value in z.items()}


def make_potential(structure: ModelStructure, sites: dict):
    """``potential(z, data)``: minus the log joint density in unconstrained space (with the Jacobian)."""
    model = make_model(structure)

    def potential(z, data):
        params = constrain(sites, z)
        log_joint, _ = log_density(model, (data,), {}, params)
        for name, (transform, _) in sites.items():
            log_joint = log_joint + jnp.sum(transform.log_abs_det_jacobian(z[name], params[name]))
        return -log_joint

    return potential


def _starts_at_zero(name: str) -> bool:
    """Coefficients and standardised random effects start at 0, as Stan's default inits do (uniform(-2, 2) on
    the unconstrained scale): the median of a few prior draws of a wide coefficient prior can sit far out
    (seen: a gamma identity-link slope started at 12.9 with the truth at 2, where the mean left its range)."""
    return name == "b" or name.startswith(("b_", "z_"))


def unconstrained_prior_draws(structure: ModelStructure, sites: dict):
    """Jitted ``(keys, data) -> {site: unconstrained prior draw per key}``."""
    model = make_model(structure)

    @jax.jit
    def draw(keys, data):
        def one(k):
            tr = trace(seed(model, k)).get_trace(data)
            return {name: sites[name][0].inv(tr[name]["value"]) for name in sites}

        return jax.vmap(one)(keys)

    return draw


def initial_values(structure: ModelStructure, data: ModelData, sites: dict, key, chains: int, radius: float = 0.5,
                   prior_draws=None):
    """Per chain: each site's starting point, unconstrained, jittered by U(-radius, radius). Coefficients and
    standardised random effects start at 0 (levels centred on the intercept at the intercept); the other sites (intercept, SDs, family parameters) at the median
    of 15 prior draws (numpyro's ``init_to_median``), all in one jitted call (``prior_draws(keys, data)``,
    cached by :func:`bayesmm.model.nuts.compiled`; built here when not given)."""
    draw = prior_draws or unconstrained_prior_draws(structure, sites)
    prior = draw(jax.random.split(key, 15), data)
    centre = {name: jnp.zeros_like(v[0]) if _starts_at_zero(name) else jnp.median(v, axis=0)
              for name, v in prior.items()}
    for k, block in enumerate(structure.blocks):  # levels centred on the intercept start at the intercept
        if f"z_{k}" in centre and block.any_centred and 0 in block.centre_on and "Intercept_c" in centre:
            column = jnp.asarray(block.centre_on) == 0  # index 0 of [Intercept_c, b]: the intercept
            centre[f"z_{k}"] = jnp.where(data.centred[k][:, None] & column, centre["Intercept_c"], 0.0)
    jitter_keys = jax.random.split(jax.random.fold_in(key, 1), len(sites))
    jitter = {name: jax.random.uniform(k, (chains,) + centre[name].shape, minval=-radius, maxval=radius)
              for k, name in zip(jitter_keys, sorted(sites))}
    # a slope's jitter moves the linear predictor by at most ``radius`` per predictor SD: +-0.5 on the slope of
    # grouseticks' cHEIGHT (SD 30) moved it by +-15, and one chain of four never left the mode it fell into
    scale = 1.0 / jnp.maximum(1.0, jnp.std(data.X, axis=0)) if structure.b_priors else None
    if "b" in jitter:  # one prior for all slopes: one site
        jitter["b"] = jitter["b"] * scale
    else:  # one site per prior (``b_<prior>``), holding the slopes ``idx``
        for name, idx, _ in _grouped(structure.b_priors):
            if f"b_{name}" in jitter:
                jitter[f"b_{name}"] = jitter[f"b_{name}"] * scale[np.asarray(idx)]
    return centre, jitter


def usable_start(values, data, centre: dict, jitter: dict):
    """(starting points, whether the log density is finite at all of them), traceable: the jittered
    starting points, with the jitter halved (up to 12 times, then dropped) for any chain whose log density
    is not finite there: a mean outside its range (gamma's identity or inverse link) has zero density, and
    such a chain could never move. ``values(z, data)``: the potential vmapped over chains."""
    chains = next(iter(jitter.values())).shape[0]

    def points(factor):
        return {name: centre[name] + jitter[name] * factor.reshape((-1,) + (1,) * centre[name].ndim)
                for name in centre}

    def bad(factor):
        return ~jnp.isfinite(values(points(factor), data))

    def more(carry):
        _, attempt, failed = carry
        return (attempt < 13) & jnp.any(failed)

    def halve(carry):
        factor, attempt, failed = carry
        factor = jnp.where(failed, jnp.where(attempt >= 12, 0.0, factor / 2), factor)
        return factor, attempt + 1, bad(factor)

    factor = jnp.ones(chains)
    factor, _, failed = jax.lax.while_loop(more, halve, (factor, 0, bad(factor)))
    return points(factor), ~jnp.any(failed)
