"""The sampling plan's records: how each random-effect block is handled, and why.

A :class:`ModelPlan` holds one :class:`BlockPlan` per random-effect block. Its ``kind`` says what the sampler
does with the block's effects:

``dense``
    integrated out of a gaussian model together with every other block (the dense Woodbury marginal): only the
    SDs and correlations are sampled; the effects are drawn from their exact conditional afterwards.
``by_level``
    integrated out level by level given the other blocks (gaussian models with too many coefficients for
    ``dense``).
``quadrature``
    an observation-level effect (one level per row) integrated out of each row's likelihood by adaptive
    Gauss-Hermite quadrature; only its SD is sampled.
``sampled``
    the effects are sampled, each level centred, non-centred or partly centred (``weights``), and
    possibly as sums with partner blocks (``aliases``), centred on parent blocks (``parents``) or rotated
    along level-level covariates (``basis``).

Only numpy: the plan is decided before anything is traced.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["BlockPlan", "ModelPlan", "AliasPlan", "ParentPlan", "KINDS"]

#: The kinds of block, with how :func:`ModelPlan.__str__` says each.
KINDS = {
    "dense": "integrated out (jointly with the other blocks)",
    "by_level": "integrated out level by level",
    "quadrature": "integrated out of each row by quadrature",
    "sampled": "sampled",
}


@dataclass(frozen=True, eq=False)
class ParentPlan:
    """A block this block's levels nest in: ``(column, parent column)`` pairs and, per level, the parent
    level and the share of the level's rows in it (``plan.centring.parent_links``)."""

    block: int
    columns: tuple
    level: np.ndarray
    parent_level: np.ndarray
    share: np.ndarray


@dataclass(frozen=True, eq=False)
class AliasPlan:
    """Levels of this block and of ``partner`` that hold the same rows, sampled as their sum and a split
    (``plan.centring.aliased_levels``): the pairs' levels, information x variance of each sum and the sum's
    variance at the PQL guess."""

    partner: int
    levels: np.ndarray
    partner_levels: np.ndarray
    information: np.ndarray
    variance: float


@dataclass(frozen=True, eq=False)
class BlockPlan:
    """How one random-effect block is handled (see the module's docstring for the kinds)."""

    group: str
    columns: tuple
    n_levels: int
    kind: str
    #: why this kind, in words
    reason: str
    #: sampled: per level, how far its effects are sampled centred (0 non-centred, 1 centred)
    weights: np.ndarray | None = None
    #: sampled, weights following each draw's SDs: (information x variance per level and column, variance per
    #: column) at the PQL guess; None: the fixed ``weights``
    guess: tuple | None = None
    #: sampled: the blocks its centred levels centre on as well
    parents: tuple = ()
    #: sampled: the blocks after this one with levels holding the same rows as some of its levels
    aliases: tuple = ()
    #: sampled, the one block whose centred levels centre on the intercept and slopes: per column, the index
    #: of that fixed coefficient in ``[Intercept, slopes]`` or -1; empty elsewhere
    centre_on: tuple = ()
    #: sampled: the intercept column when centred levels centre on their level's mean fixed-effect row, else -1
    mean_column: int = -1
    #: sampled: Householder vectors rotating the effects' mean and level-level covariates into coordinates of
    #: their own (``plan.bases.level_bases``), or None
    basis: np.ndarray | None = None
    #: the linear predictor the effects enter: ``"cond"`` (the mean) or a family parameter (``design.RandomBlock.part``)
    part: str = "cond"
    #: the block's covariance structure (``ar1``, ``ou``, ``cs``, ``exp``, ...: ``bayesmm.structures``), or ""; its
    #: effects are sampled whitened (non-centred through the structure's Cholesky factor), or integrated out: a
    #: ``by_level`` ``ar1``/``ou`` block by its tridiagonal precision
    structure: str = ""

    @property
    def label(self) -> str:
        """The block's group, with the family parameter whose formula holds it: ``site``, ``site (zi)``."""
        return self.group if self.part == "cond" else f"{self.group} ({self.part})"

    @property
    def centred(self) -> int:
        return 0 if self.weights is None else int(np.sum(self.weights >= 0.5))

    @property
    def partly(self) -> int:
        return 0 if self.weights is None else int(np.sum((self.weights > 0) & (self.weights < 0.5)))


@dataclass(frozen=True, eq=False)
class ModelPlan:
    """One :class:`BlockPlan` per random-effect block, and for a ``by_level`` block the rows' cells (each
    row's cell and each cell's first row; None: the rows themselves)."""

    blocks: tuple
    cells: tuple | None = None
    #: the information per level and column and the guessed variances from the PQL guess (None without it)
    information: tuple | None = field(default=None, repr=False)
    variances: tuple | None = field(default=None, repr=False)

    def index(self, kind: str) -> int:
        """The first block of ``kind``, or -1."""
        return next((k for k, b in enumerate(self.blocks) if b.kind == kind), -1)

    @property
    def kinds(self) -> tuple:
        return tuple(b.kind for b in self.blocks)

    def line(self) -> str:
        """One line for the summary: each block and its kind."""
        if not self.blocks:
            return "no random effects: every parameter sampled"
        parts = []
        for b in self.blocks:
            text = f"{b.label} {KINDS[b.kind].split(' (')[0]}"
            if b.kind == "sampled":
                counts = [f"{n} {w}" for n, w in ((b.centred, "centred"), (b.partly, "partly centred")) if n]
                text += f" ({', '.join(counts)} of {b.n_levels} levels)" if counts else " (non-centred)"
            parts.append(text)
        return "; ".join(parts)

    def __str__(self) -> str:
        lines = ["Sampling plan:"]
        for b in self.blocks:
            where = "" if b.part == "cond" else f" in {b.part}"
            lines.append(f"  ({' + '.join(b.columns)} | {b.group}){where}: {KINDS[b.kind]}. {b.reason}")
        if not self.blocks:
            lines.append("  no random effects: the fixed effects and family parameters are sampled.")
        return "\n".join(lines)

    __repr__ = __str__
