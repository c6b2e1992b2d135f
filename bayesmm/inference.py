"""NUTS sampling of a compiled model: chains, warmup, seed, progress bar.

One compiled program runs warmup and sampling for all chains. Chains run in parallel over the CPU
devices that :mod:`bayesmm.config` exposes (``chain_method="parallel"``) when there are enough of them,
else one after another. The same seed gives the same draws on the same machine.
"""
from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass

import jax
import numpy as np
import numpyro
from numpyro.infer import MCMC, NUTS, init_to_median

from .errors import SamplerError
from .model import ModelData, ModelStructure, generated, make_model

__all__ = ["SamplerSettings", "Samples", "sample_posterior"]

numpyro.enable_x64()

_EXTRA = ("diverging", "num_steps", "accept_prob", "energy", "potential_energy", "adapt_state.step_size")


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings; validated on construction."""

    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    seed: int = 0
    target_accept: float = 0.8
    max_tree_depth: int = 10
    progress: bool | None = None

    def __post_init__(self):
        for name in ("chains", "draws", "warmup", "max_tree_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise SamplerError(f"{name} must be a whole number, not {value!r}.")
            low = 0 if name == "warmup" else 1
            if value < low:
                raise SamplerError(f"{name} must be at least {low}, not {value}.")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or self.seed < 0:
            raise SamplerError(f"seed must be a non-negative whole number, not {self.seed!r}.")
        if isinstance(self.target_accept, bool) or not isinstance(self.target_accept, (int, float, np.number)):
            raise SamplerError(f"target_accept must be a number between 0 and 1, e.g. 0.9, not {self.target_accept!r}.")
        if not 0 < float(self.target_accept) < 1:
            raise SamplerError(f"target_accept must lie strictly between 0 and 1, not {self.target_accept}.")


@dataclass(frozen=True)
class Samples:
    """Draws by site, shaped (chain, draw, ...), sampler statistics likewise, and generated quantities."""

    draws: dict
    stats: dict
    generated: dict


def _chain_method(chains: int) -> str:
    if chains == 1:
        return "sequential"
    return "parallel" if jax.local_device_count() >= chains else "sequential"


def _show_progress(settings: SamplerSettings, data: ModelData) -> bool:
    if settings.progress is not None:
        return bool(settings.progress)
    work = int(data.y.shape[0]) * (settings.draws + settings.warmup)
    return work > 20_000_000 and sys.stderr.isatty() and not os.environ.get("CI")


def sample_posterior(structure: ModelStructure, data: ModelData, settings: SamplerSettings) -> Samples:
    """Run NUTS and return the draws, the sampler statistics and the replayed generated quantities."""
    kernel = NUTS(make_model(structure), target_accept_prob=float(settings.target_accept),
                  max_tree_depth=int(settings.max_tree_depth), init_strategy=init_to_median(num_samples=15))
    mcmc = MCMC(kernel, num_warmup=int(settings.warmup), num_samples=int(settings.draws),
                num_chains=int(settings.chains), chain_method=_chain_method(settings.chains),
                progress_bar=_show_progress(settings, data), jit_model_args=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            mcmc.run(jax.random.PRNGKey(int(settings.seed)), data, extra_fields=_EXTRA)
    except (RuntimeError, ValueError, FloatingPointError) as err:
        raise SamplerError(f"NUTS failed: {err}. Check the data's scale and the priors.") from None
    draws = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    stats = {k.split(".")[-1]: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in draws.items()}
    extra = generated(structure, data, flat)
    shape = (settings.chains, settings.draws)
    extra = {k: np.asarray(v).reshape(shape + v.shape[1:]) for k, v in extra.items()}
    return Samples(draws, stats, extra)
