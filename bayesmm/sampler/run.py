"""NUTS sampling of a compiled model: chains, warmup, seed, progress bar.

One compiled program runs warmup, sampling and the generated quantities for all chains
(:mod:`bayesmm.sampler.nuts`), stored between processes (:mod:`bayesmm.sampler.stored`). Chains run in
parallel over the CPU devices that :mod:`bayesmm.config` exposes, or over several GPUs;
else one after another on a CPU, vectorized on an accelerator. The same seed gives the same draws on the same
machine, however the chains are spread.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass

import jax
import numpy as np
from numpyro.infer import MCMC, NUTS
from threadpoolctl import threadpool_limits

from ..errors import SamplerError
from ..model import ModelData, ModelStructure
from .coordinates import dense_groups, rotated_sites, site_bases, to_model, to_sampler
from .nuts import (chain_devices, chain_program, compiled, continuation_program, shapes_key, start_program,
                         vectorizes_chains)
from .potential import initial_values
from ..model.backend import use_float64
from ..model.program import keeps_log_lik
from .settings import SamplerSettings
from .stored import enable_compilation_cache

__all__ = ["SamplerSettings", "Samples", "sample_posterior", "continue_posterior"]

@dataclass(frozen=True)
class Samples:
    """Draws by site, shaped (chain, draw, ...), sampler statistics likewise, and generated quantities."""

    draws: dict
    stats: dict
    generated: dict
    #: which sampler ran: ``"compiled"`` (bayesmm's program) or ``"numpyro"`` (numpyro's ``MCMC``, for
    #: ``progress=True``; other draws for the same seed)
    path: str = "compiled"
    #: each chain's end state (position, adapted step size and mass matrix, key; leading axis ``chain``), from
    #: which :func:`continue_posterior` takes the chains further; ``None`` on the numpyro path
    end: dict | None = None

    def extended(self, more: "Samples") -> "Samples":
        """These draws followed by ``more`` (the same chains run longer), with ``more``'s end states."""
        join = lambda a, b: {k: np.concatenate([a[k], b[k]], axis=1) for k in a if k in b}  # noqa: E731
        generated = join(self.generated, more.generated)
        if "log_lik" in generated and not keeps_log_lik(*generated["log_lik"].shape[1:]):
            del generated["log_lik"]  # as a run of that many draws would (LOG_LIK_MAX_VALUES)
        return Samples(join(self.draws, more.draws), join(self.stats, more.stats), generated, self.path, more.end)


_EXTRA = ("diverging", "num_steps", "accept_prob", "energy", "potential_energy", "adapt_state.step_size")


def _chain_method(chains: int) -> str:
    """``parallel`` over local devices when the chains can spread over two or more (CPU devices from
    :mod:`bayesmm.config`, or several GPUs; :func:`~bayesmm.sampler.nuts.chain_devices`); on one accelerator
    ``vectorized`` (chains share the data reads); else ``sequential``."""
    if chains == 1:
        return "sequential"
    if chain_devices(chains) >= 2:
        return "parallel"
    return "vectorized" if vectorizes_chains() else "sequential"


def _show_progress(settings: SamplerSettings) -> bool:
    """Only ``progress=True`` takes numpyro's ``MCMC`` (for its bar): never switched on by itself, so that a
    script gives the same draws in a terminal as in a notebook or under CI for the same seed."""
    return bool(settings.progress)


def announce(settings: SamplerSettings, data: ModelData) -> None:
    """One line on standard error before a long run in a terminal (the sampler itself is unchanged)."""
    work = int(data.y.shape[0]) * (settings.draws + settings.warmup) * settings.chains
    if settings.progress is None and work > 80_000_000 and sys.stderr.isatty() and not os.environ.get("CI"):
        print(f"bayesmm: sampling {settings.chains} chains x ({settings.warmup} warmup + {settings.draws} draws) "
              f"on {int(data.y.shape[0]):,} rows; progress=True shows a progress bar (numpyro's sampler: other "
              "draws for the same seed).", file=sys.stderr, flush=True)


def sampler_keys(seed: int, chains: int):
    """A numpy generator for the starting points' jitter, and raw threefry keys (pairs of uint32, numpy) for
    each chain and for numpyro's ``MCMC``, from numpy's ``SeedSequence`` of ``seed``: ``jax.random`` called
    outside a compiled program compiles a small program per call (seed, fold-in, split: about 0.15 s of a
    fresh process's fit)."""
    sequence = np.random.SeedSequence(seed)
    state = sequence.generate_state(2 * (chains + 1)).reshape(chains + 1, 2)
    return np.random.default_rng(sequence.spawn(1)[0]), state[:chains], state[chains]


def _sequential(program, *own):
    """Chains one after another through the cached compiled program of one chain: ``own`` the chains'
    arguments (leading axis ``chain``), then ``run(*shared)``."""
    def run(*shared):
        chains = jax.tree.leaves(own)[0].shape[0]
        outs = [jax.tree.map(np.asarray, program(*jax.tree.map(lambda leaf: leaf[c], own), *shared))
                for c in range(chains)]
        return jax.tree.map(lambda *parts: np.stack(parts), *outs)
    return run


def _together(program, *own):
    """Chains in parallel over the local devices through the cached compiled program of all chains."""
    def run(*shared):
        return jax.tree.map(np.asarray, program(*own, *shared))
    return run


def _not_finite() -> SamplerError:
    return SamplerError("The log density is not finite at the initial values: check the data's scale, the "
                        "offset and the priors.")


def _parallel(structure: ModelStructure, helpers, jitter: dict, centre: dict, key, settings: SamplerSettings,
              data: ModelData, method: str = "parallel"):
    """Chains with numpyro's ``MCMC``, for its progress bar (``chain_method`` ``"parallel"`` over devices, or
    ``"vectorized"`` on one accelerator: chains share the data reads), in the same coordinates and with the
    same dense block as the compiled sampler (:mod:`bayesmm.sampler.coordinates`), but from numpyro's identity
    mass matrix (its ``NUTS`` takes one starting mass matrix for all chains); then the cached replay program
    for the constrained draws and generated quantities."""
    init, finite = start_program(structure, shapes_key(data), int(settings.chains))(jitter, centre, data)
    if not bool(finite):
        raise _not_finite()
    rotated = rotated_sites(structure, helpers.sites)
    bases = site_bases(rotated, data)
    kernel = NUTS(potential_fn=lambda zs: helpers.potential(to_model(zs, rotated, bases), data),
                  target_accept_prob=float(settings.target_accept), max_tree_depth=int(settings.max_tree_depth),
                  dense_mass=dense_groups(structure, helpers.sites, rotated))
    mcmc = MCMC(kernel, num_warmup=int(settings.warmup), num_samples=int(settings.draws),
                num_chains=int(settings.chains), chain_method=method, progress_bar=True)
    # The starting points come from a compiled program and live on one device: numpyro spreads host arrays.
    start = jax.vmap(lambda z: to_sampler(z, rotated, bases))(init)
    mcmc.run(key, init_params=jax.tree.map(np.asarray, start), extra_fields=_EXTRA)
    # Draws from parallel chains are sharded over the CPU devices: gather them on the host, or the replay
    # would become a cross-device program (very slow on CPU).
    samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=False).items()}
    unconstrained = jax.tree.map(np.asarray, jax.jit(jax.vmap(lambda zs: to_model(zs, rotated, bases)))(samples))
    stats = {k.split(".")[-1]: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    flat, extra = jax.tree.map(np.asarray, helpers.replay(unconstrained, jax.random.fold_in(key, 1), data))
    shape = (int(settings.chains), int(settings.draws))
    reshape = lambda tree: {k: v.reshape(shape + v.shape[1:]) for k, v in tree.items()}  # noqa: E731
    return reshape(flat), stats, reshape(extra)


@contextlib.contextmanager
def _running_chains():
    """Around a run of the chains: BLAS single-threaded (parallel chains each call LAPACK, Cholesky in the
    marginalised gaussian model; a multi-threaded BLAS under them oversubscribes the cores, 3x slower on 2
    cores), numpyro's and JAX's UserWarnings silenced, and a failure inside jax/numpyro raised as a
    :class:`SamplerError`."""
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", UserWarning)
        try:
            yield
        except SamplerError:
            raise
        except Exception as err:  # noqa: BLE001 - jax/numpyro failures reach the user as a SamplerError
            raise SamplerError(f"NUTS failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
                               "Check the data's scale and the priors; if they look right, please report "
                               "this with the formula and data.") from None


def _samples(flat: dict, stats: dict, extra: dict, path: str, end) -> Samples:
    """:class:`Samples` from a program's outputs: the draws are the constrained sites and the generated
    quantities but the pointwise log-likelihood."""
    draws = {k: v for k, v in {**flat, **extra}.items() if k != "log_lik"}
    return Samples(draws, stats, extra, path, end)


def sample_posterior(structure: ModelStructure, data: ModelData, settings: SamplerSettings) -> Samples:
    """Run NUTS and return the draws (constrained), the sampler statistics and the generated quantities.

    The starting points' centre and jitter come from the host (:func:`~bayesmm.sampler.potential.initial_values`);
    the sampler of all chains (starting point, warmup, sampling, constraining, generated quantities) is one
    compiled program per model structure, data shapes and settings (:func:`bayesmm.sampler.nuts.chain_program`),
    kept in the process and stored between processes: a second fit of the same model neither traces nor
    compiles, and a fresh process only loads it. numpyro's ``MCMC`` runs the chains instead for a progress bar."""
    use_float64()
    enable_compilation_cache()
    chains = int(settings.chains)
    rng, chain_keys, key = sampler_keys(int(settings.seed), chains)
    shapes = shapes_key(data)
    centre, jitter = initial_values(structure, data, compiled(structure, shapes).sites, rng, chains)
    announce(settings, data)
    with _running_chains():
        method = _chain_method(chains)
        path = "numpyro" if method != "sequential" and _show_progress(settings) else "compiled"
        end = None
        if path == "numpyro":
            flat, stats, extra = _parallel(structure, compiled(structure, shapes), jitter, centre, key, settings,
                                           data, method)
        else:
            together = method != "sequential"
            program = chain_program(structure, shapes, int(settings.warmup), int(settings.draws),
                                    float(settings.target_accept), int(settings.max_tree_depth),
                                    chains if together else 1)
            flat, stats, extra, finite, end = (_together if together else _sequential)(program, jitter,
                                                                                       chain_keys)(centre, data)
            if not np.all(finite):
                raise _not_finite()
    return _samples(flat, stats, extra, path, end)


def continue_posterior(structure: ModelStructure, data: ModelData, settings: SamplerSettings, samples: Samples,
                       draws: int) -> Samples:
    """``samples`` with ``draws`` more iterations of each chain (from its end state, with its adapted step size
    and mass matrix: the same chains run longer, :func:`bayesmm.sampler.nuts.continuation_program`). The same
    seed gives the same draws."""
    if samples.end is None:
        raise SamplerError("These chains cannot go on: they ran in numpyro's MCMC (progress=True).")
    chains = int(settings.chains)
    together = _chain_method(chains) != "sequential"
    program = continuation_program(structure, shapes_key(data), int(draws), float(settings.target_accept),
                                   int(settings.max_tree_depth), chains if together else 1)
    with _running_chains():
        flat, stats, extra, end = (_together if together else _sequential)(program, samples.end)(data)
    return samples.extended(_samples(flat, stats, extra, samples.path, end))
