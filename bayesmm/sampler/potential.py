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
from numpyro.distributions.transforms import Transform, biject_to
from numpyro.handlers import seed, trace
from numpyro.infer.util import log_density
from scipy import special

from ..distributions import DISTRIBUTIONS
from ..priors import PriorSpec
from ..structures import PARAMETERS, parameter_shape

from ..model.program import ModelData, ModelStructure, grouped_priors, make_model
from .stored import program_key, stored_value

__all__ = ["latent_sites", "make_potential", "constrain", "initial_values", "prior_median", "usable_start"]


@functools.lru_cache(maxsize=64)
def latent_sites(structure: ModelStructure, data_shapes) -> dict:
    """name -> (bijection from the real line onto the site's support, unconstrained shape). Found by tracing the
    model (a tenth to a quarter of a second for a small one), and kept between processes (:func:`.stored.stored_value`)
    so that a fresh process that loads the stored sampler traces nothing."""
    return stored_value(program_key("sites", structure, data_shapes.key), lambda: _traced_sites(structure, data_shapes),
                        check=_are_sites)


def _are_sites(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(transform, Transform) and isinstance(shape, tuple) for transform, shape in value.values())


def _traced_sites(structure: ModelStructure, data_shapes) -> dict:
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


def shape_tree(data: ModelData):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), data)


def sites_of(structure: ModelStructure, data: ModelData) -> dict:
    return latent_sites(structure, HashableShapes(shape_tree(data)))


class HashableShapes:
    """Wraps a pytree of ShapeDtypeStructs so it can key an lru_cache."""

    def __init__(self, tree):
        self.tree = tree
        leaves, treedef = jax.tree.flatten(tree)
        self.key = (treedef, tuple((leaf.shape, str(leaf.dtype)) for leaf in leaves))

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, HashableShapes) and self.key == other.key

    def __getattr__(self, name):
        return getattr(self.tree, name)


def constrain(sites: dict, z: dict) -> dict:
    return {name: sites[name][0](value) for name, value in z.items()}


def reported(flat: dict, extra: dict) -> dict:
    """The constrained draws a sampler returns: a block's standardised effects ``z_k`` are left out where the
    generated ``r_k`` carries the effects (the fit reads ``r_k``; ``z_k`` would be a second array as large)."""
    return {name: value for name, value in flat.items() if not (name.startswith("z_") and f"r_{name[2:]}" in extra)}


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
    the unconstrained scale): the median of a wide coefficient prior can sit far out (seen: a gamma
    identity-link slope started at 12.9 with the truth at 2, where the mean left its range)."""
    return name == "b" or name.startswith(("b_", "z_"))


def prior_median(spec: PriorSpec) -> float:
    """The median of a prior, on its own (constrained) scale, in closed form (scipy's special functions: no
    draws, nothing for XLA to compile; :data:`bayesmm.distributions.DISTRIBUTIONS`)."""
    return float(DISTRIBUTIONS[spec.dist].median([float(x) for x in spec.args]))


def _start(spec: PriorSpec, structure: ModelStructure) -> float:
    """Where a site starts: its prior median (for an SD in units of sigma, times sigma's prior median)."""
    median = prior_median(spec)
    return median * prior_median(dict(structure.aux_priors)["sigma"]) if spec.per else median


def _unconstrained(spec: PriorSpec, value: float) -> float:
    """``value`` on the real line, as numpyro's ``biject_to`` of the prior's support maps it."""
    support = spec.support
    if support == "positive":
        return float(np.log(value))
    if support == "unit":
        return float(special.logit(value))
    if support == "interval":
        low, high = (float(x) for x in spec.args)
        return float(special.logit((value - low) / (high - low)))
    return float(value)


def _site_priors(structure: ModelStructure) -> dict:
    """Site name -> the priors of its elements, for the sites that start at their prior median: the
    intercept, each block's SDs (``sd_k``, or ``sd_k_<prior>`` when the SDs' priors differ), a structured
    block's ``rho_k`` or ``lscale_k`` (a length scale started at 1 may sit far outside the data's distances,
    where the likelihood is flat) and the family's parameters."""
    out = {name: (spec,) for name, spec in structure.aux_priors}
    if structure.intercept_prior is not None:
        out["Intercept_c"] = (structure.intercept_prior,)
    for k, block in enumerate(structure.blocks):
        out[f"sd_{k}"] = block.sd_priors
        for name, idx, _ in grouped_priors(block.sd_priors):
            out[f"sd_{k}_{name}"] = tuple(block.sd_priors[i] for i in idx)
        if block.structure_prior is not None:
            size = int(np.prod(parameter_shape(block.structure, block.n_columns)))
            out[f"{PARAMETERS[block.structure]}_{k}"] = (block.structure_prior,) * size
    return out


def initial_values(structure: ModelStructure, data: ModelData, sites: dict, rng: np.random.Generator, chains: int,
                   radius: float = 0.5) -> tuple[dict, dict]:
    """``(centre, jitter)``, host arrays, unconstrained: each site's starting point, and per chain a jitter
    U(-radius, radius) to add to it. Coefficients and standardised random effects start at 0 (levels centred
    on the intercept at the intercept), correlation factors at the identity, the other sites (intercept, SDs,
    family parameters) at their prior median (as numpyro's ``init_to_median``, exactly rather than from
    draws). Built in numpy, so a fresh process compiles nothing for it."""
    priors = _site_priors(structure)
    centre = {}
    for name, (_, shape) in sites.items():
        if name in priors and not _starts_at_zero(name):
            centre[name] = np.reshape([_unconstrained(spec, _start(spec, structure)) for spec in priors[name]], shape)
        else:
            centre[name] = np.zeros(shape)
    for k, block in enumerate(structure.blocks):  # levels centred on the intercept start at the intercept
        if f"z_{k}" in centre and block.any_centred and 0 in block.centre_on and "Intercept_c" in centre:
            column = np.asarray(block.centre_on) == 0  # index 0 of [Intercept_c, b]: the intercept
            weight = np.asarray(data.centred[k], dtype=float)[:, None]  # 1 centred, 0 not, between: partly
            centre[f"z_{k}"] = np.where(column, weight * centre["Intercept_c"], 0.0)
    jitter = {name: rng.uniform(-radius, radius, (chains,) + centre[name].shape) for name in sorted(sites)}
    # a slope's jitter moves the linear predictor by at most ``radius`` per predictor SD: +-0.5 on the slope of
    # grouseticks' cHEIGHT (SD 30) moved it by +-15, and one chain of four never left the mode it fell into
    scale = 1.0 / np.maximum(1.0, np.std(np.asarray(data.X), axis=0)) if structure.b_priors else None
    if "b" in jitter:  # one prior for all slopes: one site
        jitter["b"] = jitter["b"] * scale
    else:  # one site per prior (``b_<prior>``), holding the slopes ``idx``
        for name, idx, _ in grouped_priors(structure.b_priors):
            if f"b_{name}" in jitter:
                jitter[f"b_{name}"] = jitter[f"b_{name}"] * scale[np.asarray(idx)]
    return centre, jitter


def usable_start(value_and_grad, centre, jitter):
    """``(starting point, (potential, gradient) there, whether both are finite)`` of one chain, traceable (the
    points: dicts of sites, or flat vectors): ``centre + jitter``, with the jitter halved (up to 12 times, then dropped) while the potential or its
    gradient is not finite there: a mean outside its range (gamma's identity or inverse link) has zero
    density, and such a chain could never move. ``value_and_grad(z)`` is evaluated in one place in the
    program (a loop), and its value at the start is what NUTS starts from (no second copy to compile)."""
    def point(factor):
        return jax.tree.map(lambda c, j: c + j * factor, centre, jitter)

    def finite(value, grad):
        return jnp.isfinite(value) & jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grad)]))

    def more(carry):
        _, tries, ok, _ = carry
        return (tries < 14) & ~ok

    def retry(carry):  # tries 0..13: factors 1, 1/2, ..., 1/4096, then 0; the factor kept once finite
        factor, tries, _, _ = carry
        factor = jnp.where(tries == 13, 0.0, factor)
        value, grad = value_and_grad(point(factor))
        ok = finite(value, grad)
        return jnp.where(ok, factor, factor / 2), tries + 1, ok, (value, grad)

    zero = jnp.zeros(())
    dummy = (zero, jax.tree.map(jnp.zeros_like, centre))
    factor, _, ok, evaluated = jax.lax.while_loop(more, retry, (jnp.ones(()), 0, jnp.bool_(False), dummy))
    return point(factor), evaluated, ok
