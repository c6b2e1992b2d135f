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
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.util import log_density

from .program import ModelData, ModelStructure, make_model

__all__ = ["latent_sites", "make_potential", "constrain", "initial_values"]


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


def initial_values(structure: ModelStructure, data: ModelData, sites: dict, key, chains: int, radius: float = 0.5):
    """Per chain: the median of 15 prior draws of each site, unconstrained, jittered by U(-radius, radius)
    (numpyro's ``init_to_median``, run in one jitted call)."""
    model = make_model(structure)

    @jax.jit
    def draw(keys, data):
        def one(k):
            tr = trace(seed(model, k)).get_trace(data)
            return {name: sites[name][0].inv(tr[name]["value"]) for name in sites}

        return jax.vmap(one)(keys)

    prior = draw(jax.random.split(key, 15), data)
    median = {name: jnp.median(v, axis=0) for name, v in prior.items()}
    jitter_keys = jax.random.split(jax.random.fold_in(key, 1), len(sites))
    return {name: median[name] + jax.random.uniform(k, (chains,) + median[name].shape, minval=-radius, maxval=radius)
            for k, name in zip(jitter_keys, sorted(sites))}


def finite_everywhere(values) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(v)))) for v in jax.tree.leaves(values))
