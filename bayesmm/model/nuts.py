"""Compiled programs cached per model structure, data shapes and sampler settings.

numpyro's ``MCMC`` builds new Python closures on every call, so JAX traces and lowers the whole sampler
again for each fit (about 2-3 s for a small model, even with the persistent compilation cache). Here the
helpers around it (prior draws for starting points, the potential, constraining the draws, replaying the
model for generated quantities) are jitted once per structure and shapes, and for chains run one after
another the per-chain program -- NUTS initialisation, warmup and sampling (numpyro's functional ``hmc`` kernel inside
``lax.fori_loop``/``lax.scan``), constraining the draws and replaying the model for generated quantities
(``Intercept``, random effects, pointwise log-likelihood) -- is one ``jax.jit`` (or ``jax.pmap`` over the
CPU devices for parallel chains) of ``(initial values, key, data)``, built once per
``(structure, data shapes, settings)`` and kept in an ``lru_cache``. All arrays travel as arguments, so a
second fit of a model with the same structure and shapes runs the compiled program straight away, with no
tracing and no compilation. The helpers that find starting points are cached the same way.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
from numpyro.infer.hmc import hmc

from .potential import _Hashable, _shapes, constrain, latent_sites, make_potential, unconstrained_prior_draws
from .program import ModelData, ModelStructure, generated

__all__ = ["Compiled", "compiled", "chain_program", "replay_program", "shapes_key", "STAT_FIELDS"]

#: Sampler statistics kept per draw (numpyro's names; ``step_size`` is the adapted step size).
STAT_FIELDS = ("diverging", "num_steps", "accept_prob", "energy", "potential_energy", "step_size")


def shapes_key(data: ModelData) -> _Hashable:
    """Hashable shapes and dtypes of the data arrays: with the structure, what a compiled program depends on."""
    return _Hashable(_shapes(data))


class Compiled(NamedTuple):
    """Jitted helpers of one model: its latent sites, the potential and the prior draws for starting points."""

    sites: dict
    potential: object  # potential(z, data) -> minus the log joint density, unconstrained
    potentials: object  # jitted, vmapped over a leading chain axis of z
    prior_draws: object  # jitted (keys, data) -> unconstrained prior draws per key
    replay: object  # jitted (z, key, data) -> (constrained draws, generated quantities); z flat over draws


@functools.lru_cache(maxsize=32)
def compiled(structure: ModelStructure, shapes: _Hashable) -> Compiled:
    """The cached :class:`Compiled` helpers for a structure and data shapes."""
    sites = latent_sites(structure, shapes)
    potential = make_potential(structure, sites)

    prior_draws = unconstrained_prior_draws(structure, sites)

    @jax.jit
    def replay(z, key, data):
        flat = constrain(sites, z)
        return flat, generated(structure, data, flat, key=key)

    return Compiled(sites, potential, jax.jit(jax.vmap(potential, (0, None))), prior_draws, replay)


def replay_program(structure: ModelStructure, shapes: _Hashable):
    """The cached jitted ``replay(z, key, data)`` (see :class:`Compiled`)."""
    return compiled(structure, shapes).replay


def _one_chain(structure: ModelStructure, shapes: _Hashable, warmup: int, draws: int, target_accept: float,
               max_tree_depth: int):
    """``run(z0, key, data) -> (draws, stats, generated)`` for one chain: warmup with numpyro's window
    adaptation (step size and diagonal mass matrix, as ``NUTS`` defaults), then ``draws`` iterations."""
    helpers = compiled(structure, shapes)
    init_kernel, sample_kernel = hmc(potential_fn_gen=lambda data: functools.partial(helpers.potential, data=data),
                                     algo="NUTS")

    def run(z0, key, data):
        k_init, k_gen = jax.random.split(key)
        state = init_kernel(z0, warmup, target_accept_prob=target_accept, max_tree_depth=max_tree_depth,
                            model_args=(data,), rng_key=k_init)
        state = jax.lax.fori_loop(0, warmup, lambda i, s: sample_kernel(s, model_args=(data,)), state)

        def step(s, _):
            s = sample_kernel(s, model_args=(data,))
            stats = (s.diverging, s.num_steps, s.accept_prob, s.energy, s.potential_energy,
                     s.adapt_state.step_size)
            return s, (s.z, stats)

        _, (z, stats) = jax.lax.scan(step, state, None, length=draws)
        flat = constrain(helpers.sites, z)
        extra = generated(structure, data, flat, key=k_gen)
        return flat, dict(zip(STAT_FIELDS, stats)), extra

    return run


@functools.lru_cache(maxsize=32)
def chain_program(structure: ModelStructure, shapes: _Hashable, warmup: int, draws: int, target_accept: float,
                  max_tree_depth: int, parallel: bool):
    """The compiled sampler, cached: ``jax.pmap`` over chains (one per device, data broadcast) when
    ``parallel``, else a ``jax.jit`` of one chain that the caller runs chain after chain."""
    run = _one_chain(structure, shapes, warmup, draws, target_accept, max_tree_depth)
    if parallel:
        return jax.pmap(run, in_axes=(0, 0, None))
    return jax.jit(run)
