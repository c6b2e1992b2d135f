"""The model stage's records: :class:`ModelStructure` (static and hashable: the compiled program is cached on it),
its :class:`BlockStructure` per random-effect block, and :class:`ModelData` (the arrays of one data set)."""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from ..priors import PriorSpec
from .autocor import AutocorData
from .marginal import MarginalData, OneBlockData

__all__ = ["BlockStructure", "ModelStructure", "ModelData"]


class BlockStructure(NamedTuple):
    """Static description of one random-effect block."""

    n_levels: int
    n_columns: int
    correlated: bool
    sd_priors: tuple[PriorSpec, ...]
    cor_prior: PriorSpec | None
    #: ``(1 | g)``: Z is a column of ones, so the effect is gathered without multiplying by Z
    intercept_only: bool = False
    #: per block column, the fixed coefficient its centred levels centre on, as an index into
    #: ``[Intercept_c, b]`` (the intercept, or the slope of the same name), or -1; set for one block per
    #: model (chosen in ``compile_model``), empty for the others
    centre_on: tuple = ()
    #: some level of the block is sampled centred (else the plain non-centred program, with no mask)
    any_centred: bool = False
    #: blocks whose levels this block's levels nest in, ``(parent block, ((column, parent column), ...))``:
    #: its centred levels centre on those parents' effects too (``centring.parent_links``; shares in
    #: ``ModelData.parent_pairs``)
    parents: tuple = ()
    #: the block's intercept column when its centred levels also centre on their level's mean fixed-effect row
    #: (``ModelData.level_X``), else -1
    mean_column: int = -1
    #: the plan's kind (``bayesmm.plan.records``): "dense", "by_level", "quadrature" or "sampled"
    kind: str = "sampled"
    #: the linear predictor its effects enter: "cond" (the mean's) or a family parameter's (``ModelStructure.parts``)
    part: str = "cond"
    #: categorical families: per column, the category's linear predictor its effects enter (:mod:`.categorical`)
    predictors: tuple = ()
    #: the block's covariance structure (``ar1``, ``ou``, ``cs``, ``exp``, ``gau``, ``mat``; :mod:`.structured`), or ""
    structure: str = ""
    #: the prior of the structure's parameter (``rho`` or ``lscale``), None without a structure
    structure_prior: PriorSpec | None = None


class ModelStructure(NamedTuple):
    """Everything static about a model: hashable, so the model function can be cached on it."""

    family: str
    link: str
    intercept_prior: PriorSpec | None
    b_priors: tuple[PriorSpec, ...]
    blocks: tuple[BlockStructure, ...]
    aux_priors: tuple[tuple[str, PriorSpec], ...]
    parts: tuple = ()
    #: pairs of intercept-only blocks ``(a, b)`` with levels holding the same rows, sampled as sum and split
    #: (``effects.split_aliased``; the levels in ``ModelData.aliases``)
    aliases: tuple = ()
    #: ordinal families: the priors of the thresholds ``c_1 < ... < c_{K-1}`` (:mod:`.ordinal`); empty otherwise
    thresholds: tuple = ()
    #: categorical families: the number of linear predictors (categories but the reference; :mod:`.categorical`)
    categories: int = 0
    #: autocorrelated gaussian residuals (:mod:`.autocor`): the correlation's parameter (``ar1__rho``, its prior in
    #: ``aux_priors``), or ''
    autocor: str = ""

    def _first(self, kind: str) -> int:
        return next((k for k, b in enumerate(self.blocks) if b.kind == kind), -1)

    @property
    def marginal(self) -> bool:
        """Every random effect integrated out jointly (gaussian models: the dense Woodbury marginal)."""
        return bool(self.blocks) and self.blocks[0].kind == "dense"

    @property
    def marginal_block(self) -> int:
        """The block integrated out level by level given the others (gaussian models too large for
        ``marginal``), or -1."""
        return self._first("by_level")

    @property
    def row_block(self) -> int:
        """The observation-level block (one level per row) integrated out of each row's likelihood by adaptive
        Gauss-Hermite quadrature (``quadrature.py``), or -1."""
        return self._first("quadrature")


class ModelData(NamedTuple):
    """Arrays of one data set (the non-intercept columns of X centred at ``x_means``)."""

    y: jnp.ndarray
    X: jnp.ndarray
    x_means: jnp.ndarray
    offset: jnp.ndarray | None
    trials: jnp.ndarray | None
    group_index: tuple
    Z: tuple
    marginal: MarginalData | None = None
    weights: jnp.ndarray | None = None
    part_X: tuple = ()
    one_block: OneBlockData | None = None  # what ``structure.marginal_block``'s likelihood needs (marginal.py)
    #: the rows' cells for it: one row per distinct combination of the sampled terms (None: the rows themselves)
    cells: "ModelData | None" = None
    #: per block, a weight per level: how far to sample that level's effects centred (centring.py)
    centred: tuple = ()
    #: per block, per parent in ``BlockStructure.parents``: (level, parent level, share of the level's rows)
    parent_pairs: tuple = ()
    #: per block with centred levels and an intercept column: the (weighted) mean row of the centred ``X`` in each
    #: level (levels x slopes), so that its levels centre on the fixed part of their mean (None elsewhere)
    level_X: tuple = ()
    #: per pair in ``ModelStructure.aliases``: (levels of a, levels of b, information x variance of each sum and
    #: the sum's variance, both at the PQL guess: how far each sum is centred, ``effects.dynamic_weights``)
    aliases: tuple = ()
    #: per block: (information x variance per level and column, the variance per column), at the PQL guess, from
    #: which each draw's weights follow its SDs (``effects.dynamic_weights``); None: the fixed weights ``centred``
    guessed_weights: tuple = ()
    #: per block: Householder vectors (r x levels) rotating its effects' mean and level-level covariates into
    #: coordinates of their own (``coordinates.level_bases``), or None
    level_bases: tuple = ()
    #: the response's distinct values, each row's index into them and the rows' weight per value
    #: (``likelihoods.count_table``: poisson and NB2 log-gammas once per distinct value), or None
    y_table: tuple | None = None
    #: the rows' censoring and truncation (``censoring.Bounds``), or None
    bounds: tuple | None = None
    #: autocorrelated residuals: each row's predecessor in its series and the cross-products by time step
    #: (:class:`.autocor.AutocorData`), or None
    autocor: AutocorData | None = None
    #: per block: a structured block's column positions (columns x coordinates; ``cs``: zeros), or None
    positions: tuple = ()
    #: a balanced panel's sums (:class:`.panels.PanelStatistics`) for its ``ar1``/``ou`` block integrated out level by
    #: level, from which the block's likelihood takes no per-level work; or None
    panel: tuple | None = None
