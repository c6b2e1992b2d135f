"""The plan of the random effects in a family parameter's formula (``zi="~ (1 | site)"``, ``dispersion="~ (1 | g)"``).

Their effects enter the family parameter's linear predictor (logit of the zero-inflation or hurdle probability, log
of a dispersion), not the mean's, so none of the ways of integrating effects out applies to them: ``dense`` and
``by_level`` need a likelihood that is gaussian in the effects (the mean of a gaussian model), ``quadrature`` one
effect per row in the log or logit mean of a count or binomial model. They are ``sampled``, non-centred (the PQL
guess that chooses the centring models the mean only), unless the caller centres them (``centred=True``, or a
tuple with an entry per block). The mean's blocks are planned as if the parts' were not there
(:func:`mean_design`), and the parts' blocks follow them (:func:`with_part_blocks`). Numpy only.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .records import BlockPlan, ModelPlan

__all__ = ["mean_design", "mean_centring", "with_part_blocks", "part_reason"]


def mean_design(design):
    """``design`` with the mean's random-effect blocks only (they come first in ``design.blocks``)."""
    n_mean = len(design.part_blocks("cond"))
    if any(block.part != "cond" for block in design.blocks[:n_mean]):
        raise ValueError("the design's blocks must hold the mean's blocks first")
    return dataclasses.replace(design, blocks=design.blocks[:n_mean])


def mean_centring(centred, n_mean: int):
    """The mean's entries of ``centred`` (a tuple has one per block, the mean's first)."""
    return centred[:n_mean] if isinstance(centred, tuple) else centred


def part_reason(block, weights: np.ndarray) -> str:
    """Why a part's block is sampled, and how its levels are."""
    scale = ("the logit of the zero-inflation probability" if block.part == "zi" else
             "the logit of the hurdle probability" if block.part == "hu" else f"log {block.part}")
    centred = int(np.sum(weights >= 0.5))
    how = "every level non-centred" if not centred else f"{centred} of {block.n_levels} levels centred"
    return (f"Effects on {scale}, {how}. Integrating out needs a likelihood "
            "gaussian in the effects (dense, by level: a gaussian model's mean) or one effect per row in a count or "
            "binomial model's mean (quadrature); a family parameter's linear predictor offers neither.")


def _weights(block, k: int, centred) -> np.ndarray:
    """Non-centred, unless the caller chose (True, or the block's entry of a tuple)."""
    choice = centred[k] if isinstance(centred, tuple) else centred
    return np.full(block.n_levels, float(bool(choice)) if choice is not None else 0.0)


def with_part_blocks(mean_plan: ModelPlan, design, centred) -> ModelPlan:
    """The mean's plan followed by one sampled :class:`BlockPlan` per block of a family parameter's formula."""
    out = list(mean_plan.blocks)
    for k in range(len(out), len(design.blocks)):
        block = design.blocks[k]
        weights = _weights(block, k, centred)
        out.append(BlockPlan(block.group, tuple(block.columns), block.n_levels, "sampled", part_reason(block, weights),
                             weights=weights, part=block.part))
    return dataclasses.replace(mean_plan, blocks=tuple(out))
