"""The coordinates NUTS moves in: each block's random effects rotated so that their mean is a coordinate of
its own, and that mean adapted jointly with the intercept and the fixed effects (a small dense mass matrix).

With an intercept and random effects, the likelihood pins down sums such as ``Intercept + mean(u_g)``, and
only the priors pin down the parts: in a crossed model (``(1|s) + (1|d)``) shifting every effect of one
block up and every effect of the other down, with the intercept following, changes the likelihood not at
all. That direction involves every level at once, so a diagonal mass matrix cannot follow it: on 1M rows
with 10,000 x 1,000 levels (``benchmarks/gpu.py``) the intercept then mixes poorly and every draw takes twice
the leapfrog steps (``benchmarks/README.md``, GPU). Here each block's raw effects ``z`` (levels x columns) are sampled as ``H z``,
``H`` the Householder reflection that swaps the first axis with ``1 / sqrt(n)``: the first row, ``m_k``,
is ``sqrt(n)`` times the mean of the block's effects and the other rows, still called ``z_k``, its
contrasts. ``H`` is orthogonal and its own inverse, so the density is unchanged (Jacobian 1), and costs
O(levels) per step. ``m_k``, ``Intercept_c``, ``b`` and the hyperparameters (SDs, correlation factors, family
parameters) then share a dense mass matrix, which learns the ridge during warmup; the random effects' contrasts
keep a diagonal one (a dense estimate over them from the first 25-draw window is rank-deficient: grouseticks'
63 LOCATION contrasts in the dense block tripled its warmup).

A block whose levels each hold one value of some fixed-effect columns (a level-level covariate: InstEval's
``service`` within ``dept:service``, grouseticks' ``cHEIGHT`` within ``LOCATION``, verbagg's ``Anger`` within
``id``) has the same kind of ridge along each such column: the slope and the difference of the levels' effects
along the covariate trade off, and only the prior tells them apart. There ``H`` is replaced by the product ``Q``
of Householder reflections of a QR decomposition of ``[1, covariates]`` (per level; :func:`bayesmm.plan.bases.level_bases`): the
first rows of ``Q' z_k`` (``m_k``, one per basis column) are the effects' coordinates along the mean and the
covariates, and join the dense block too. On InstEval (``service`` within ``dept:service``) this more than
triples ``service``'s bulk ESS and saves a quarter of the leapfrog steps per draw (with the SDs in the dense
block, :func:`dense_groups`; ``benchmarks/README.md``, InstEval).

Warmup starts from the curvature of the log density at the starting point (:func:`curvature`,
:func:`initial_mass`) instead of numpyro's identity mass matrix, under which the iterations before the first
adapted mass matrix run at the step size of the most tightly pinned coordinate, with 511-1023 leapfrog steps.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..model.program import ModelStructure, grouped_priors

__all__ = ["rotated_sites", "dense_groups", "to_sampler", "to_model", "curvature", "initial_mass",
           "site_bases"]


def _fixed_sites(structure: ModelStructure, sites: dict) -> tuple[str, ...]:
    """The sites of the mean's intercept and fixed effects (``b``, or ``b_<prior>`` when priors differ)."""
    names = ("Intercept_c", "b") + tuple(f"b_{name}" for name, _, _ in grouped_priors(structure.b_priors))
    return tuple(name for name in names if name in sites)


def rotated_sites(structure: ModelStructure, sites: dict) -> tuple[str, ...]:
    """Names of the random-effect sites (``z_k``) sampled rotated: every sampled block with two or more
    levels, when the model has an intercept or fixed effects for their means to trade off with."""
    if not _fixed_sites(structure, sites):
        return ()
    return tuple(f"z_{k}" for k in range(len(structure.blocks))
                 if f"z_{k}" in sites and len(sites[f"z_{k}"][1]) == 2 and sites[f"z_{k}"][1][0] >= 2)


def _hyper_sites(structure: ModelStructure, sites: dict) -> tuple[str, ...]:
    """The SDs, correlation factors and family parameters (``sigma``, ``phi``, ...), in site order, while their
    elements number at most :data:`MAX_PROBED`."""
    aux = {name for name, _ in structure.aux_priors}
    names, size = [], 0
    for name, (_, shape) in sites.items():
        if name.startswith(("sd_", "L_")) or name in aux:
            size += int(np.prod(shape))
            if size > MAX_PROBED:
                break
            names.append(name)
    return tuple(names)


def dense_groups(structure: ModelStructure, sites: dict, rotated: tuple[str, ...]) -> list[tuple[str, ...]] | bool:
    """numpyro's ``dense_mass``: one dense block over the intercept, the fixed effects, the block means and
    covariate coordinates (``m_k``) and the hyperparameters (:func:`_hyper_sites`) when there are rotated blocks;
    else ``False`` (a diagonal mass matrix). The SDs join because they trade off with each other and with the
    fixed part: grouseticks' sd(LOCATION) with the observation-level SD that quadrature integrates out (its Rhat
    and ESS with SDs on the diagonal and in the dense block: ``benchmarks/README.md``)."""
    if not rotated:
        return False
    return [_fixed_sites(structure, sites) + tuple(_mean(name) for name in rotated) + _hyper_sites(structure, sites)]


def _mean(name: str) -> str:
    return "m_" + name[2:]


def _reflect(x):
    """``H x`` along the first axis of ``x`` (levels x columns), ``H = I - 2 v v' / (v'v)``, ``v = e_1 - 1/sqrt(n)``."""
    n = x.shape[0]
    v = jnp.full((n,), -1.0 / jnp.sqrt(n)).at[0].add(1.0)
    return x - v[:, None] * ((2.0 / (v @ v)) * (v @ x))[None, :]


def _reflections(vectors, x, transpose: bool):
    """``Q' x`` (``transpose``) or ``Q x`` along the first axis of ``x``, ``Q = H_1 ... H_r`` the product of the
    Householder reflections ``H_j = I - 2 v_j v_j'`` with the unit rows ``v_j`` of ``vectors`` (r x levels)."""
    order = range(vectors.shape[0]) if transpose else reversed(range(vectors.shape[0]))
    for j in order:
        x = x - 2.0 * vectors[j][:, None] * (vectors[j] @ x)[None, :]
    return x


def to_sampler(z: dict, rotated: tuple[str, ...], bases: dict | None = None) -> dict:
    """Model coordinates -> sampler coordinates (one chain): ``z_k`` becomes ``m_k`` (first row of ``H z_k``)
    and ``z_k`` (the other rows); for a site in ``bases`` (:func:`site_bases`), ``m_k`` is the first ``r`` rows
    of ``Q' z_k`` (r x columns) and ``z_k`` the rest."""
    out, bases = dict(z), bases or {}
    for name in rotated:
        if name in bases:
            w = _reflections(bases[name], z[name], transpose=True)
            r = bases[name].shape[0]
            out[_mean(name)], out[name] = w[:r], w[r:]
            continue
        w = _reflect(z[name])
        out[_mean(name)], out[name] = w[0], w[1:]
    return out


def to_model(zs: dict, rotated: tuple[str, ...], bases: dict | None = None) -> dict:
    """Sampler coordinates -> model coordinates (one chain; the inverse of :func:`to_sampler`)."""
    out, bases = {name: value for name, value in zs.items() if not name.startswith("m_")}, bases or {}
    for name in rotated:
        if name in bases:
            out[name] = _reflections(bases[name], jnp.concatenate([zs[_mean(name)], zs[name]], axis=0),
                                     transpose=False)
            continue
        out[name] = _reflect(jnp.concatenate([zs[_mean(name)][None], zs[name]], axis=0))
    return out


def site_bases(rotated: tuple[str, ...], data) -> dict:
    """``{z_k: Householder vectors}`` for the rotated sites whose block has level-level covariates
    (``ModelData.level_bases``)."""
    bases = data.level_bases or ()
    return {name: bases[int(name[2:])] for name in rotated
            if int(name[2:]) < len(bases) and bases[int(name[2:])] is not None}


#: Non-block sites with more elements than this (many fixed effects) are not probed for their curvature.
MAX_PROBED = 64


def curvature(potential, z: dict, data) -> dict:
    """The diagonal of the potential's Hessian at ``z`` (model coordinates), exactly, in a few
    Hessian-vector products: one per column of each random-effect site ``z_k`` (its levels touch disjoint
    rows and have independent priors, so its part of the Hessian is diagonal in the levels and one probe of
    ones reads all of them) and one per element of the other sites (intercept, fixed effects, SDs, family
    parameters; ones for sites of more than ``MAX_PROBED`` elements, which are not probed)."""
    probes, reads = [], []
    for name, value in z.items():
        shape = jnp.shape(value)
        if name.startswith("z_") and len(shape) == 2:
            for c in range(shape[1]):
                tangent = np.zeros(shape)
                tangent[:, c] = 1.0
                probes.append((name, tangent))
                reads.append((name, (slice(None), c)))
        elif int(np.prod(shape)) <= MAX_PROBED:
            for index in np.ndindex(*shape):
                tangent = np.zeros(shape)
                tangent[index] = 1.0
                probes.append((name, tangent))
                reads.append((name, index))
    diagonal = {name: jnp.ones(jnp.shape(value)) for name, value in z.items()}
    if not probes:
        return diagonal
    tangents = {name: jnp.asarray(np.stack([t if n == name else np.zeros(jnp.shape(value)) for n, t in probes]))
                for name, value in z.items()}
    grad = jax.grad(lambda point: potential(point, data))
    products = jax.vmap(lambda tangent: jax.jvp(grad, (z,), (tangent,))[1])(tangents)
    for i, (name, index) in enumerate(reads):
        diagonal[name] = diagonal[name].at[index].set(products[name][i][index])
    return diagonal


def initial_mass(structure: ModelStructure, sites: dict, rotated: tuple[str, ...], diagonal: dict,
                 bases: dict | None = None):
    """``(dense_mass, inverse_mass_matrix)`` for numpyro's ``hmc`` init, in sampler coordinates: the dense
    block of :func:`dense_groups` and one diagonal block of the other sites, each starting at
    ``1 / max(|curvature|, 1)``. Identity (numpyro's default) wherever the potential curves less than a
    standard normal, or not at all, at the start, but scaled down where the data pin a coordinate down:
    with the identity the first hundred warmup iterations (until the first adapted mass matrix) run at the
    step size of the most pinned coordinate, 511-1023 leapfrog steps each (InstEval: 70 s of one chain's
    warmup). A negative curvature (a start on the far side of an inflection: the count panel's NB2 ``phi`` at
    its prior median 2.2, posterior 0.45 +- 0.04, curvature -165) still tells the coordinate's scale: with the
    identity there the first hundred iterations take 130-250 leapfrog steps each, with ``1 / 165`` 30-50
    (``benchmarks/README.md``, the count panel). A rotated block's mean takes its levels' average curvature,
    its contrasts their levels'."""
    bent = {name: jnp.maximum(jnp.abs(jnp.where(jnp.isfinite(h), h, 1.0)), 1.0) for name, h in diagonal.items()}
    for name in rotated:
        r = bases[name].shape[0] if bases and name in bases else 0
        mean = jnp.mean(bent[name], axis=0)
        bent[_mean(name)] = jnp.broadcast_to(mean, (r,) + mean.shape) if r else mean
        bent[name] = bent[name][max(r, 1):]
    scale = {name: 1.0 / h for name, h in bent.items()}
    groups = dense_groups(structure, sites, rotated) or []
    dense = set().union(*groups) if groups else set()
    flat = lambda names: jnp.concatenate([jnp.ravel(scale[n]) for n in names])  # noqa: E731
    inverse = {group: jnp.diag(flat(group)) for group in groups}
    rest = tuple(sorted(set(scale) - dense))
    if rest:
        inverse[rest] = flat(rest)
    return groups, inverse
