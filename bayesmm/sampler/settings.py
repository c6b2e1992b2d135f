"""The sampler's settings (no jax: a Fit records them, and ``import bayesmm`` stays light)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SamplerError

__all__ = ["SamplerSettings"]


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
    #: devices each chain's rows are split over (``bayesmm.sampler.shards``)
    shards: int = 1

    def __post_init__(self):
        for name in ("chains", "draws", "warmup", "max_tree_depth", "shards"):
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
