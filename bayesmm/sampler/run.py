"""NUTS sampling of a compiled model: chains, warmup, seed, the progress line, Ctrl-C.

One compiled program runs warmup, sampling and the generated quantities for all chains
(:mod:`bayesmm.sampler.nuts`), stored between processes (:mod:`bayesmm.sampler.stored`). Chains run in
parallel over the CPU devices that :mod:`bayesmm.config` exposes, or over several GPUs;
else one after another on a CPU, vectorized on an accelerator. The same seed gives the same draws on the same
machine, however the chains are spread. The programs run in a worker thread while the calling thread waits
(:func:`~bayesmm.sampler.ticks.run_interruptibly`): it draws the progress line from the chains' ticks and
turns Ctrl-C into a stop at the chains' next tick and a ``KeyboardInterrupt``.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass

import jax
import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import SamplerError
from ..model import ModelData, ModelStructure
from .nuts import chain_devices, chain_program, compiled, continuation_program, shapes_key, vectorizes_chains
from .potential import initial_values
from ..model.backend import use_float64
from ..model.program import keeps_log_lik
from .progress import ProgressLine, current_line, sampling_text, shows
from .settings import SamplerSettings
from .shards import check_shardable, out_of_memory, split_rows
from .stored import enable_compilation_cache
from .ticks import ChainTicks, ensure_registered, run_interruptibly, tick_every

__all__ = ["SamplerSettings", "Samples", "sample_posterior", "continue_posterior"]

@dataclass(frozen=True)
class Samples:
    """Draws by site, shaped (chain, draw, ...), sampler statistics likewise, and generated quantities."""

    draws: dict
    stats: dict
    generated: dict
    #: which sampler ran: ``"compiled"`` (bayesmm's program)
    path: str = "compiled"
    #: each chain's end state (position, adapted step size and mass matrix, key; leading axis ``chain``), from
    #: which :func:`continue_posterior` takes the chains further
    end: dict | None = None

    def extended(self, more: "Samples") -> "Samples":
        """These draws followed by ``more`` (the same chains run longer), with ``more``'s end states."""
        def join(a: dict, b: dict, done: dict) -> dict:  # ``done``: arrays joined already (draws share generated's)
            return {k: done[k] if k in done else np.concatenate([a[k], b[k]], axis=1) for k in a if k in b}

        first, later = dict(self.generated), more.generated
        if "log_lik" in first and "log_lik" in later and not keeps_log_lik(
                first["log_lik"].shape[1] + later["log_lik"].shape[1], first["log_lik"].shape[2]):
            del first["log_lik"]  # as a run of that many draws would (LOG_LIK_MAX_VALUES); dropped before joining
        generated = join(first, later, {})
        return Samples(join(self.draws, more.draws, generated), join(self.stats, more.stats, {}), generated,
                       self.path, more.end)


def _chain_method(chains: int) -> str:
    """``parallel`` over local devices when the chains can spread over two or more (CPU devices from
    :mod:`bayesmm.config`, or several GPUs; :func:`~bayesmm.sampler.nuts.chain_devices`); on one accelerator
    ``vectorized`` (chains share the data reads); else ``sequential``."""
    if chains == 1:
        return "sequential"
    if chain_devices(chains) >= 2:
        return "parallel"
    return "vectorized" if vectorizes_chains() else "sequential"


def sampler_keys(seed: int, chains: int):
    """A numpy generator for the starting points' jitter, and raw threefry keys (pairs of uint32, numpy) for
    each chain and one more (unused by the sampler; the chains' keys depend on how many pairs are drawn), from
    numpy's ``SeedSequence`` of ``seed``: ``jax.random`` called
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


@contextlib.contextmanager
def _running_chains(out_of_memory=None):
    """Around a run of the chains: BLAS single-threaded (parallel chains each call LAPACK, Cholesky in the
    marginalised gaussian model; a multi-threaded BLAS under them oversubscribes the cores, 3x slower on 2
    cores), numpyro's and JAX's UserWarnings silenced, and a failure inside jax/numpyro raised as a
    :class:`SamplerError` (``out_of_memory()`` when a device ran out of memory)."""
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", UserWarning)
        try:
            yield
        except SamplerError:
            raise
        except Exception as err:  # noqa: BLE001 - jax/numpyro failures reach the user as a SamplerError
            if out_of_memory is not None and "RESOURCE_EXHAUSTED" in str(err):
                raise out_of_memory() from None
            raise SamplerError(f"NUTS failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
                               "Check the data's scale and the priors; if they look right, please report "
                               "this with the formula and data.") from None


def _samples(flat: dict, stats: dict, extra: dict, path: str, end) -> Samples:
    """:class:`Samples` from a program's outputs: the draws are the constrained sites and the generated
    quantities but the pointwise log-likelihood."""
    draws = {k: v for k, v in {**flat, **extra}.items() if k != "log_lik"}
    return Samples(draws, stats, extra, path, end)


def _tick_weight(chains: int, together: bool) -> int:
    """How many chains one tick stands for: a device's vectorized chains tick once for all."""
    if not together:
        return 1
    devices = chain_devices(chains)
    return chains // devices if chains > devices and vectorizes_chains() else 1


def _watched(work, chains: int, iterations: int, warmup: int, together: bool, line: ProgressLine, label: str):
    """``work()`` run with :func:`~bayesmm.sampler.ticks.run_interruptibly`, its ticks drawn on ``line``: a
    compiling stage when the chains have not started after half a second, then the sampling stage."""
    ensure_registered()
    ticks = ChainTicks(chains * iterations, tick_every(iterations), _tick_weight(chains, together))
    began = time.perf_counter()

    def end_compiling():  # the seconds since the program was called, not since the line appeared
        if line.stage_name == "compiling":
            line.finish(f"compiling ... {(ticks.started or time.perf_counter()) - began:.1f} s")

    def refresh():
        waited = time.perf_counter() - began
        if ticks.started is None:
            if waited > 0.5:
                line.show_stage("compiling", f"compiling ... {waited:.0f} s")
            return
        end_compiling()
        line.show_stage(label, sampling_text(chains, ticks.done, ticks.total, ticks.rate, ticks.latest < warmup, label))

    try:
        outputs = run_interruptibly(work, ticks, refresh if line.show else None)
    except BaseException:  # the line ends as it stood, before the error or the interruption is shown
        line.break_line()
        raise
    end_compiling()
    if line.stage_name != label:
        line.stage(label)
    seconds = time.perf_counter() - (ticks.started or began)
    rate = f" ({ticks.total / seconds:,.0f} draws/s)" if seconds > 0 else ""
    line.finish(f"{label} {chains} chain{'s' if chains != 1 else ''} 100% ... {seconds:.1f} s{rate}")
    return outputs


def sample_posterior(structure: ModelStructure, data: ModelData, settings: SamplerSettings,
                     label: str = "sampling") -> Samples:
    """Run NUTS and return the draws (constrained), the sampler statistics and the generated quantities.

    The starting points' centre and jitter come from the host (:func:`~bayesmm.sampler.potential.initial_values`);
    the sampler of all chains (starting point, warmup, sampling, constraining, generated quantities) is one
    compiled program per model structure, data shapes and settings (:func:`bayesmm.sampler.nuts.chain_program`),
    kept in the process and stored between processes: a second fit of the same model neither traces nor
    compiles, and a fresh process only loads it. Progress goes to the current fit's line
    (:func:`~bayesmm.sampler.progress.current_line`; else ``settings.progress`` decides), its stage named
    ``label``; Ctrl-C stops the chains and raises ``KeyboardInterrupt``."""
    use_float64()
    enable_compilation_cache()
    chains = int(settings.chains)
    rng, chain_keys, _ = sampler_keys(int(settings.seed), chains)
    shapes = shapes_key(data)
    centre, jitter = initial_values(structure, data, compiled(structure, shapes).sites, rng, chains)
    line = current_line() or ProgressLine(shows(settings.progress))
    shards = int(settings.shards)
    check_shardable(structure, int(np.shape(data.y)[0]), shards)
    with _running_chains(lambda: out_of_memory(data, chains, int(settings.draws), shards)):
        together = shards > 1 or _chain_method(chains) != "sequential"
        program = chain_program(structure, shapes, int(settings.warmup), int(settings.draws),
                                float(settings.target_accept), int(settings.max_tree_depth),
                                chains if together else 1, shards=shards)
        arrays = split_rows(data, shards)[0] if shards > 1 else data
        work = lambda: (_together if together else _sequential)(program, jitter, chain_keys)(centre, arrays)  # noqa: E731
        iterations = int(settings.warmup) + int(settings.draws)
        flat, stats, extra, finite, end = _watched(work, chains, iterations, int(settings.warmup), together, line,
                                                   label)
        if not np.all(finite):
            raise _not_finite()
    return _samples(flat, stats, extra, "compiled", end)


def continue_posterior(structure: ModelStructure, data: ModelData, settings: SamplerSettings, samples: Samples,
                       draws: int, label: str = "continuing") -> Samples:
    """``samples`` with ``draws`` more iterations of each chain (from its end state, with its adapted step size
    and mass matrix: the same chains run longer, :func:`bayesmm.sampler.nuts.continuation_program`). The same
    seed gives the same draws."""
    if samples.end is None:
        raise SamplerError("These chains cannot go on: their end states were not kept.")
    chains, shards = int(settings.chains), int(settings.shards)
    together = shards > 1 or _chain_method(chains) != "sequential"
    program = continuation_program(structure, shapes_key(data), int(draws), float(settings.target_accept),
                                   int(settings.max_tree_depth), chains if together else 1, shards=shards)
    line = current_line() or ProgressLine(shows(settings.progress))
    arrays = split_rows(data, shards)[0] if shards > 1 else data
    with _running_chains(lambda: out_of_memory(data, chains, int(draws), shards)):
        work = lambda: (_together if together else _sequential)(program, samples.end)(arrays)  # noqa: E731
        flat, stats, extra, end = _watched(work, chains, int(draws), 0, together, line, label)
    return samples.extended(_samples(flat, stats, extra, samples.path, end))
