"""Compiled programs cached per model structure, data shapes and sampler settings.

numpyro's ``MCMC`` builds new Python closures on every call, so JAX traces and lowers the whole sampler again for
each fit (about 1-2 s for a small model, even with the persistent compilation cache). Here the sampler of all chains
-- the starting point (jitter shrunk until the density is finite), NUTS initialisation, warmup and sampling
(numpyro's functional ``hmc`` kernel in one ``lax.fori_loop``), constraining the draws and replaying the model for
generated quantities (``Intercept``, random effects, pointwise log-likelihood) -- is one program of ``(jitter, keys,
centre, data)``: ``jax.shard_map`` over a mesh of local devices for parallel chains (CPU devices of
:mod:`bayesmm.config`, or GPUs; :func:`chain_devices`), or a ``jax.jit`` of one chain run chain after chain. The
starting points' centre and jitter come from the host (:func:`~bayesmm.sampler.potential.initial_values`: prior
medians in closed form, numpy's generator), so that one program is all a fit compiles: XLA compilation is most of a
fresh process's first fit. It is built once per ``(structure, data shapes, settings)`` and kept in an ``lru_cache``;
all arrays travel as arguments, so a second fit of a model with the same structure and shapes runs the compiled
program straight away, with no tracing and no compilation. It is also stored between processes (:mod:`.stored`), so
a fresh process does not trace it again either.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, PartitionSpec
from numpyro.infer.hmc import hmc
from numpyro.infer.util import ParamInfo

from .potential import (HashableShapes, shape_tree, constrain, initial_values, latent_sites, make_potential, reported,
                        usable_start)
from .coordinates import curvature, dense_groups, initial_mass, rotated_sites, site_bases, to_model, to_sampler
from ..model.program import generated
from ..model.records import ModelData, ModelStructure
from .shards import ROWS, first_shard, sharded_program, summed_potential
from .stored import program_key, stored_program
from .ticks import ensure_registered, tick, tick_every

__all__ = ["Compiled", "compiled", "chain_program", "start_program", "starting_points", "shapes_key", "chain_devices",
           "vectorizes_chains", "compiler_options", "without_ynn", "continuation_program", "STAT_FIELDS"]

#: Sampler statistics kept per draw (numpyro's names; ``step_size`` is the adapted step size).
STAT_FIELDS = ("diverging", "num_steps", "accept_prob", "energy", "potential_energy", "step_size")


def shapes_key(data: ModelData) -> HashableShapes:
    """Hashable shapes and dtypes of the data arrays: with the structure, what a compiled program depends on."""
    return HashableShapes(shape_tree(data))


class Compiled(NamedTuple):
    """Helpers of one model: its latent sites, the potential and the jitted replay."""

    sites: dict
    potential: object  # potential(z, data) -> minus the log joint density, unconstrained
    replay: object  # jitted (z, key, data) -> (constrained draws, generated quantities); z flat over draws


@functools.lru_cache(maxsize=32)
def compiled(structure: ModelStructure, shapes: HashableShapes) -> Compiled:
    """The cached :class:`Compiled` helpers for a structure and data shapes."""
    sites = latent_sites(structure, shapes)
    potential = jax.jit(make_potential(structure, sites))

    @jax.jit
    def replay(z, key, data):
        flat = constrain(sites, z)
        return flat, generated(structure, data, flat, key=key)

    return Compiled(sites, potential, replay)


def _one_chain(structure: ModelStructure, shapes: HashableShapes, warmup: int, draws: int, target_accept: float,
               max_tree_depth: int, specs=None):
    """``run(jitter, key, centre, data) -> (draws, stats, generated, finite, end)`` for one chain: from ``centre +
    jitter`` (the jitter shrunk where the density is not finite, :func:`~.potential.usable_start`; ``finite``
    says whether it is at the start), warmup with numpyro's window adaptation (step size and mass matrix:
    diagonal, with a dense block over the intercept, fixed effects and block means, :mod:`.coordinates`),
    then ``draws`` iterations; draws in model coordinates; ``end``: the chain's :func:`_end_state`. With row
    ``specs`` (:func:`.shards.row_specs`), it runs on one device of a mesh of row shards."""

    def run(jitter, key, centre, data):
        helpers, rotated, bases, sampler_potential, potential, data = _sampler_coordinates(structure, shapes, data,
                                                                                           specs)
        flat, unflat = _flattening(helpers)
        moved = lambda z: sampler_potential(unflat(z))  # noqa: E731 - the potential of what NUTS moves
        # to_sampler is linear: the jittered start in sampler coordinates is the sum of the two mapped
        zs0, (energy, grad), finite = usable_start(jax.value_and_grad(moved), flat(to_sampler(centre, rotated, bases)),
                                                   flat(to_sampler(jitter, rotated, bases)))
        init_kernel, sample_kernel = hmc(potential_fn_gen=lambda data: moved, algo="NUTS")
        k_init, k_gen = jax.random.split(key)
        if _samples_effects(helpers):  # random effects sampled: start from curvature
            bent = curvature(potential, to_model(zs0, rotated, bases), data)
            dense, inverse_mass = initial_mass(structure, helpers.sites, rotated, bent, bases)
        else:  # fully marginalised or no random effects: few, comparable coordinates; numpyro's identity start
            dense, inverse_mass = False, None
        state = init_kernel(ParamInfo(zs0, energy, grad), warmup, target_accept_prob=target_accept,
                            max_tree_depth=max_tree_depth, dense_mass=dense, inverse_mass_matrix=inverse_mass,
                            model_args=(data,), rng_key=k_init)

        position, restore = _positions(helpers, rotated, bases, unflat)
        record = lambda s: _record(s, position)  # noqa: E731

        # One loop over warmup and draws (the kernel adapts while ``i < warmup``): one copy of NUTS in the
        # program, half the code to compile and load. Warmup iterations write into slot 0, which the first
        # draw overwrites.
        def step(i, carry):
            s, kept = carry
            s = sample_kernel(s, model_args=(data,))
            return s, _keep(kept, record(s), jnp.maximum(i - warmup, 0))

        last, (z, stats) = _ticking_loop(warmup + draws, step, (state, _buffers(record(state), draws)), specs)
        flat = constrain(helpers.sites, restore(z))
        extra = generated(structure, data, flat, key=k_gen)
        return reported(flat, extra), dict(zip(STAT_FIELDS, stats)), extra, finite, _end_state(last)

    return run


def _sampler_coordinates(structure: ModelStructure, shapes: HashableShapes, data, specs=None):
    """A chain's helpers, its rotated sites and their bases, the potential in sampler coordinates and in model
    coordinates, and its data: with row ``specs``, this device's shard, and the potential summed over the
    shards (:func:`.shards.summed_potential`)."""
    helpers = compiled(structure, shapes)
    potential = helpers.potential
    if specs is not None:
        data, potential = first_shard(data, specs), summed_potential(structure, helpers.sites)
    rotated = rotated_sites(structure, helpers.sites)
    bases = site_bases(rotated, data)
    return helpers, rotated, bases, lambda zs: potential(to_model(zs, rotated, bases), data), potential, data


def _samples_effects(helpers: Compiled) -> bool:
    """Whether the random effects are sampled (sites ``z_k``): then the mass matrix has the structure of
    :func:`.coordinates.dense_groups`; else (fully marginalised, no random effects) numpyro's diagonal."""
    return any(name.startswith("z_") for name in helpers.sites)


def _same(z):
    return z


def _flattening(helpers: Compiled):
    """``(flat, unflat)`` between the sampler's coordinates (a dict of sites) and the position NUTS moves.

    Without sampled effects the mass matrix is diagonal, and NUTS moves one vector: the sites raveled in the order
    numpyro ravels them itself (sorted names), so that the arithmetic is numpyro's to rounding, while the program
    carries one array per field of NUTS's state instead of one per site: fewer buffers, copies and kernels per
    iteration (``benchmarks/README.md``, cold start). With sampled effects the mass matrix's dense blocks are named
    by site (:mod:`.coordinates`), and NUTS moves the sites as they are."""
    if _samples_effects(helpers):
        return _same, _same
    _, unravel = ravel_pytree({name: jnp.zeros(shape) for name, (_, shape) in helpers.sites.items()})
    return (lambda z: ravel_pytree(z)[0]), unravel


def _positions(helpers: Compiled, rotated, bases, unflat):
    """``(position, restore)``: what a draw keeps of NUTS's position, and the draws in model coordinates from
    what was kept. A flat position is kept as it is (one buffer written per iteration, not one per site) and
    unraveled after the loop; sites are kept in model coordinates."""
    if _samples_effects(helpers):
        return (lambda z: to_model(z, rotated, bases)), _same
    return _same, jax.vmap(lambda z: to_model(unflat(z), rotated, bases))


def _record(state, position):
    """What a draw keeps: ``position(state.z)`` (:func:`_positions`) and the sampler statistics
    (``STAT_FIELDS``)."""
    return position(state.z), (state.diverging, state.num_steps, state.accept_prob, state.energy,
                               state.potential_energy, state.adapt_state.step_size)


def _buffers(record, draws: int):
    """Zeroed buffers for ``draws`` copies of what a draw keeps."""
    return jax.tree.map(lambda v: jnp.zeros((draws,) + jnp.shape(v), jnp.result_type(v)), record)


def _keep(buffers, record, slot):
    """``buffers`` with ``record`` written at ``slot``."""
    return jax.tree.map(lambda buf, v: jax.lax.dynamic_update_index_in_dim(buf, v, slot, 0), buffers, record)


def _ticking_loop(iterations: int, step, carry, specs=None):
    """``carry`` after ``step(i, carry)`` for ``i`` in ``range(iterations)``, with a :func:`~.ticks.tick` before
    the first iteration and after every :func:`~.ticks.tick_every` iterations, ending early when a tick says
    stop (Ctrl-C; the host then discards the output). The counter and the stop flag are not per chain, so
    under ``vmap`` the ticks are not batched: a device's vectorized chains tick once for all. Over row shards
    (``specs``) the first shard ticks and its stop flag goes to all, so that they stop at the same iteration."""
    every = tick_every(iterations)
    shard_tick = tick if specs is None else (
        lambda i: jax.lax.cond(jax.lax.axis_index(ROWS) == 0, tick, lambda _: jnp.int32(0), i))
    agreed = (lambda stop: stop) if specs is None else (lambda stop: jax.lax.pmax(stop, ROWS))

    def body(loop):
        i, inner, _ = loop
        inner = step(i, inner)
        i = i + 1
        stop = agreed(jax.lax.cond(i % every == 0, shard_tick, lambda _: jnp.int32(0), i))
        return i, inner, stop

    going = lambda loop: (loop[0] < iterations) & (loop[2] == 0)  # noqa: E731
    return jax.lax.while_loop(going, body, (jnp.int32(0), carry, agreed(shard_tick(0))))[1]


def _end_state(state) -> dict:
    """What a chain needs to go on sampling after its last draw (:func:`continuation_program`): the position NUTS
    moves (:func:`_flattening`), the adapted step size and inverse mass matrix (:func:`_mass_keys`), the key."""
    return {"z": state.z, "step_size": state.adapt_state.step_size,
            "inverse_mass": _mass_keys(state.adapt_state.inverse_mass_matrix), "key": state.rng_key}


def _mass_keys(inverse_mass, back: bool = False, sites: str = "\x1f"):
    """numpyro's mass matrix per group of sites (a dict keyed by tuples of names) keyed by the names joined, as a
    stored program's inputs and outputs must be (string keys), or (``back``) split again in the tuples' order."""
    if not isinstance(inverse_mass, dict):
        return inverse_mass
    if back:
        return dict(sorted((tuple(key.split(sites)), value) for key, value in inverse_mass.items()))
    return {sites.join(key): value for key, value in inverse_mass.items()}


def _continued_chain(structure: ModelStructure, shapes: HashableShapes, draws: int, target_accept: float,
                     max_tree_depth: int, specs=None):
    """``run(state, data) -> (draws, stats, generated, state)`` for one chain: ``draws`` more iterations from
    a chain's :func:`_end_state`, with its adapted step size and mass matrix and no further adaptation; the
    same chain run longer."""

    def run(end, data):
        helpers, rotated, bases, sampler_potential, _, data = _sampler_coordinates(structure, shapes, data, specs)
        _, unflat = _flattening(helpers)
        moved = lambda z: sampler_potential(unflat(z))  # noqa: E731
        position, restore = _positions(helpers, rotated, bases, unflat)
        energy, grad = jax.value_and_grad(moved)(end["z"])
        init_kernel, sample_kernel = hmc(potential_fn_gen=lambda data: moved, algo="NUTS")
        k_run, k_gen = jax.random.split(end["key"])
        dense = (dense_groups(structure, helpers.sites, rotated) or []) if _samples_effects(helpers) else False
        state = init_kernel(ParamInfo(end["z"], energy, grad), 0, step_size=end["step_size"],
                            inverse_mass_matrix=_mass_keys(end["inverse_mass"], back=True), adapt_step_size=False,
                            target_accept_prob=target_accept, max_tree_depth=max_tree_depth, dense_mass=dense,
                            model_args=(data,), rng_key=k_run, adapt_mass_matrix=False)

        def step(i, carry):
            s, kept = carry
            s = sample_kernel(s, model_args=(data,))
            return s, _keep(kept, _record(s, position), i)

        last, (z, stats) = _ticking_loop(draws, step, (state, _buffers(_record(state, position), draws)), specs)
        flat = constrain(helpers.sites, restore(z))
        extra = generated(structure, data, flat, key=k_gen)
        return reported(flat, extra), dict(zip(STAT_FIELDS, stats)), extra, _end_state(last)

    return run


def chain_devices(chains: int) -> int:
    """How many local devices the chains spread over: the most that divides ``chains`` evenly.

    More CPU devices than cores still pays for large models (InstEval, 4 chains on 2 cores: 148 s on 4
    devices against 197 s on 2 devices running 2 chains each), so it is the default."""
    limit = jax.local_device_count()
    return max(d for d in range(1, min(chains, limit) + 1) if chains % d == 0)


@functools.lru_cache(maxsize=32)
def start_program(structure: ModelStructure, shapes: HashableShapes, chains: int):
    """The cached ``start(jitter, centre, data) -> (starting points per chain, all finite)``: what the chain
    program does first (:func:`~bayesmm.sampler.potential.usable_start`), on its own, for benchmarks and tests;
    stored between processes (:mod:`.stored`)."""
    def start(jitter, centre, data):
        value_and_grad = jax.value_and_grad(lambda z: compiled(structure, shapes).potential(z, data))
        points, _, finite = jax.vmap(lambda j: usable_start(value_and_grad, centre, j))(jitter)
        return points, jnp.all(finite)

    return stored_program(program_key("start", structure, shapes.key, chains), start,
                          compiler_options=compiler_options(0))


def starting_points(structure: ModelStructure, data: ModelData, seed: int, chains: int):
    """``(starting points per chain, all finite)`` as a fit from ``seed`` would draw them, with
    :func:`start_program`."""
    shapes = shapes_key(data)
    centre, jitter = initial_values(structure, data, compiled(structure, shapes).sites,
                                    np.random.default_rng(seed), chains)
    return start_program(structure, shapes, chains)(jitter, centre, data)


#: Up to this much work (rows x iterations x chains), XLA's compilation of a sampler outweighs its run on a
#: CPU, and the sampler is compiled with XLA's older loop emitters (:func:`compiler_options`).
QUICK_WORK = 2_000_000


def compiler_options(work: float) -> dict | None:
    """XLA options for a CPU program that runs ``work`` (rows x iterations x chains; 0 for one evaluation).

    XLA's newer MLIR fusion emitters (its CPU default) make faster loops over many rows but take longer to
    compile: sleepstudy's sampler compiles in 3.1 s with the older emitters against 4.6 s, and samples as
    fast (0.64 s); verbagg's (7,584 rows) compiles 1.4 s faster but samples 18% slower (11.5 s against
    9.7 s), grouseticks' (403 rows) 14% slower (``benchmarks/README.md``, cold start). So a small job gets
    the older emitters, and everything else XLA's default. Either way without YNNPACK fusions
    (:func:`without_ynn`)."""
    if jax.default_backend() != "cpu":
        return None
    if work <= QUICK_WORK:
        return {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1, **without_ynn()}
    return without_ynn() or None


#: The XLA option that turns YNNPACK fusions off (jaxlib 0.10's CPU backend; an empty list of fusion kinds).
YNN_OFF = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.lru_cache(maxsize=1)
def without_ynn() -> dict:
    """:data:`YNN_OFF` where this XLA knows the option (jaxlib 0.10; others: a tiny program compiled with it, once
    per process), else ``{}``. jaxlib 0.10's CPU backend hands reductions over the leading axis of a 2-d array
    (levels x columns, rows x columns: sums in every gradient of a random-effect model) to YNNPACK, 14-30x
    slower than XLA's own loop (21,000 x 1: 385 us against 28 us): in the count panel's gradient (21,058 rows,
    6,000 levels) one such sum over the levels took 0.54 of 1.3 ms (``benchmarks/README.md``, the count panel)."""
    import jaxlib

    if jaxlib.__version__.startswith("0.10."):
        return dict(YNN_OFF)
    try:
        jax.jit(lambda x: x + 1.0).lower(np.float64(0.0)).compile(compiler_options=YNN_OFF)
    except Exception:  # noqa: BLE001 - an XLA without the option: its defaults
        return {}
    return dict(YNN_OFF)


def vectorizes_chains() -> bool:
    """Whether a device runs its share of the chains vectorized (``jax.vmap``: one pass over the data serves
    them all; on a GPU 8 chains cost about 1.6x one) rather than one after another (``lax.map``; on a CPU a
    vectorized step costs as much as the chains' steps together, and waits for the longest trajectory)."""
    return jax.default_backend() != "cpu"


@functools.lru_cache(maxsize=32)
def chain_program(structure: ModelStructure, shapes: HashableShapes, warmup: int, draws: int, target_accept: float,
                  max_tree_depth: int, chains: int, vectorized: bool | None = None, shards: int = 1):
    """The compiled sampler ``run(jitter, keys, centre, data)`` (:func:`_one_chain`), cached in the process
    and stored between processes (:mod:`.stored`). ``chains > 1``: all chains at once, spread over
    :func:`chain_devices` local devices (``jax.shard_map``; data copied to each; each device runs its share
    vectorized or one after another, :func:`vectorizes_chains` unless ``vectorized`` says), leading axis
    ``chains``; ``chains == 1``: one chain (the caller runs chains one after another). Compiled with
    :func:`compiler_options` for its work. ``shards > 1``: the rows split over that many devices per chain
    (:func:`sharded_program`; the data as :func:`.shards.split_rows` gives it)."""
    def run(jitter, key, centre, data, specs=None):  # built only when traced: a stored program needs none of it
        return _one_chain(structure, shapes, warmup, draws, target_accept, max_tree_depth, specs)(
            jitter, key, centre, data)

    options = compiler_options(shapes.tree.y.shape[0] * (warmup + draws) * chains / shards)
    parts = ("chains", structure, shapes.key, warmup, draws, target_accept, max_tree_depth)
    if shards > 1:
        return sharded_program(run, (2, 2), chains, shards, draws, shapes, options, *parts)
    return _spread(run, (2, 2), chains, vectorized, options, *parts)


@functools.lru_cache(maxsize=32)
def continuation_program(structure: ModelStructure, shapes: HashableShapes, draws: int, target_accept: float,
                         max_tree_depth: int, chains: int, vectorized: bool | None = None, shards: int = 1):
    """The compiled ``run(states, data)`` that takes every chain ``draws`` iterations further from the end
    states a :func:`chain_program` returned (:func:`_continued_chain`), spread over the devices as that
    program is; it returns the new end states, so a chain can go on again."""
    def run(end, data, specs=None):
        return _continued_chain(structure, shapes, draws, target_accept, max_tree_depth, specs)(end, data)

    options = compiler_options(shapes.tree.y.shape[0] * draws * chains / shards)
    parts = ("continued", structure, shapes.key, draws, target_accept, max_tree_depth)
    if shards > 1:
        return sharded_program(run, (1, 1), chains, shards, draws, shapes, options, *parts)
    return _spread(run, (1, 1), chains, vectorized, options, *parts)


def _spread(run, arguments: tuple[int, int], chains: int, vectorized: bool | None, options, *key_parts):
    """``run`` (one chain; ``arguments``: how many of its arguments are the chain's own, first, and how many
    are shared) as the stored program of ``chains`` chains: one chain as it is; else ``jax.shard_map`` over :func:`chain_devices` local
    devices, each running its share vectorized or one after another (:func:`vectorizes_chains` unless
    ``vectorized`` says), the chain's arguments and the outputs with a leading axis ``chains``."""
    per_chain, n_shared = arguments
    ensure_registered()  # a stored program calls the tick's custom call: XLA must know it before compiling
    devices = chain_devices(chains)
    vectorized = vectorizes_chains() if vectorized is None else bool(vectorized)
    key = program_key(*key_parts, chains, devices, vectorized)
    if chains == 1:
        return stored_program(key, run, compiler_options=options)
    mesh = Mesh(np.array(jax.local_devices()[:devices]), ("chain",))

    def one(*args):  # each device's share: chains // devices chains
        own, shared = args[:per_chain], args[per_chain:]
        if chains == devices:  # one chain per device: no loop around it (compiles 0.5 s faster)
            first = lambda tree: jax.tree.map(lambda leaf: leaf[0], tree)  # noqa: E731
            return jax.tree.map(lambda leaf: leaf[None], run(*first(own), *shared))
        if vectorized:
            return jax.vmap(run, (0,) * per_chain + (None,) * len(shared))(*own, *shared)
        return jax.lax.map(lambda chain: run(*chain, *shared), own)

    chain, shared = PartitionSpec("chain"), PartitionSpec()
    spread = jax.shard_map(one, mesh=mesh, in_specs=(chain,) * per_chain + (shared,) * n_shared,
                           out_specs=chain, check_vma=False)
    return stored_program(key, spread, mesh=mesh, split=per_chain, compiler_options=options)
